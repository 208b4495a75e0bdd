package dev.meshlet.l7;

import dev.meshlet.core.Endpoint;
import java.net.InetSocketAddress;
import java.net.URI;
import java.util.concurrent.ConcurrentHashMap;
import org.eclipse.jetty.client.Destination;
import org.eclipse.jetty.client.HttpClient;
import org.eclipse.jetty.client.Request;
import org.eclipse.jetty.client.Response;
import org.eclipse.jetty.client.transport.HttpDestination;
import org.jspecify.annotations.Nullable;

/**
 * The backends' addresses as the proxy client sees them: the base URI of each, and its Jetty
 * destination, resolved once per address rather than per request.
 */
final class Destinations {
  private static final long STALE_CHECK_NANOS = 1_000_000_000L;

  private final HttpClient client;
  private final ConcurrentHashMap<InetSocketAddress, Server> servers = new ConcurrentHashMap<>();

  Destinations(HttpClient client) {
    this.client = client;
  }

  /**
   * The server at {@code endpoint}'s address, made once per address (not per {@code Endpoint}: live
   * updates make new endpoints for the same backends, and this map stays as small as the set of
   * backend addresses ever used).
   */
  Server server(Endpoint endpoint) {
    InetSocketAddress a = endpoint.address();
    Server s = servers.get(a);
    if (s == null) {
      s = servers.computeIfAbsent(a, Server::new);
    }
    return s;
  }

  /**
   * Sends {@code proxyRequest} through {@code server}'s Jetty destination: {@code Request.send} would
   * resolve it per request with a {@code ConcurrentHashMap.compute} on one bin shared by every
   * request to that backend, a lock that stalls them all on one CPU.
   */
  void send(Server server, Request proxyRequest, Response.CompleteListener listener) {
    @Nullable Destination d = server.destination;
    long now = System.nanoTime();
    if (d == null || now - server.checkedNanos > STALE_CHECK_NANOS) {
      try {
        d = refresh(server, proxyRequest, now);
      } catch (RuntimeException x) {
        proxyRequest.send(listener); // Jetty's path, which fails the request as it should
        return;
      }
    }
    d.send(proxyRequest, listener);
  }

  /**
   * Jetty's destination sweeper drops a destination after it has been idle (no exchange, no connection,
   * no {@code stale()} check) for the destination idle timeout (at least 60 s). Checking at least once
   * a second keeps a destination in use from being swept between the check and the send, and replaces
   * one that was swept while unused.
   */
  private Destination refresh(Server server, Request proxyRequest, long now) {
    @Nullable Destination cached = server.destination;
    if (cached instanceof HttpDestination d && !d.stale()) {
      server.checkedNanos = now;
      return cached;
    }
    // Jetty's own resolution: creates the destination if absent or stale, and marks it active
    Destination fresh = client.resolveDestination(proxyRequest);
    server.destination = fresh;
    server.checkedNanos = now;
    return fresh;
  }

  /** A backend address: the base URI of every request to it, and its Jetty destination once resolved. */
  static final class Server {
    /** {@code http://host:port}: {@code HttpClient.newRequest(host, port)} would build and parse one per request. */
    final URI uri;
    private volatile @Nullable Destination destination;
    private volatile long checkedNanos;

    Server(InetSocketAddress a) {
      String host = a.isUnresolved() ? a.getHostString() : a.getAddress().getHostAddress();
      String authority = host.indexOf(':') >= 0 ? "[" + host + "]" : host; // IPv6 literal
      this.uri = URI.create("http://" + authority + ":" + a.getPort());
    }
  }
}
