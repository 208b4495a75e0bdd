package dev.meshlet.admin;

import dev.meshlet.l4.TcpProxy;
import dev.meshlet.l7.HttpProxy;

/** A proxy the admin endpoint serves, with its name. */
sealed interface Registered {
  /** The name: the {@code listener} label in metrics and the key in JSON. */
  String name();

  /** Stops accepting connections; what is open goes on. */
  void drain();

  /** Whether the proxy takes new work now. */
  boolean up();

  /** An HTTP proxy. */
  record Http(String name, HttpProxy proxy) implements Registered {
    @Override
    public void drain() {
      proxy.drain();
    }

    @Override
    public boolean up() {
      return !proxy.stats().draining();
    }
  }

  /** A TCP proxy, registered or made through the Toxiproxy API. */
  record Tcp(String name, TcpProxy proxy) implements Registered {
    @Override
    public void drain() {
      proxy.drain();
    }

    @Override
    public boolean up() {
      return proxy.isEnabled() && !proxy.stats().draining();
    }
  }
}
