package dev.meshlet.l4;

import java.io.IOException;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.StandardProtocolFamily;
import java.net.StandardSocketOptions;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import org.jspecify.annotations.Nullable;

/**
 * The listening socket and its acceptor thread, and whether the proxy is enabled: while disabled the
 * socket is closed (new connections are refused by the OS) and the acceptor waits for a new one.
 * Every accepted socket goes to the {@link Connections}.
 */
final class Listener {
  private final String name;
  private final InetSocketAddress address;
  private final int backlog;
  private final Connections connections;
  /** Closed while the proxy is disabled, and a new one bound on enable. */
  private volatile ServerSocketChannel server;
  private volatile boolean enabled = true;
  private volatile boolean closed;
  /** Guards enable/disable/close against each other; the acceptor waits on it while disabled. */
  private final ReentrantLock lock = new ReentrantLock();
  private final Condition changed = lock.newCondition();
  /** The last closed listener the acceptor has left accept() of (each listener is a new object); guarded by lock. */
  private @Nullable ServerSocketChannel acceptorLeft;
  /** The acceptor has ended, however; guarded by lock. */
  private boolean acceptorDone;
  private final Thread acceptor;

  Listener(String name, ServerSocketChannel server, int backlog, Connections connections, Threads threads)
      throws IOException {
    this.name = name;
    this.server = server;
    this.address = (InetSocketAddress) server.getLocalAddress();
    this.backlog = backlog;
    this.connections = connections;
    this.acceptor = threads.named("accept", this::acceptLoop);
  }

  void start() {
    acceptor.start();
  }

  InetSocketAddress address() {
    return address;
  }

  boolean enabled() {
    return enabled;
  }

  /**
   * A listening channel of the address's own family: an IPv4 address (other than the wildcard, which
   * stays dual-stack) gets an IPv4 socket, so accepted connections skip the IPv4-mapped IPv6 path.
   */
  static ServerSocketChannel open(InetSocketAddress address) throws IOException {
    InetAddress ip = address.getAddress();
    return ip instanceof Inet4Address && !ip.isAnyLocalAddress()
        ? ServerSocketChannel.open(StandardProtocolFamily.INET)
        : ServerSocketChannel.open();
  }

  /** Closes the listening socket, then the connections open now. */
  void disable() {
    lock.lock();
    try {
      if (!enabled) {
        return;
      }
      enabled = false; // before the socket closes: a connection accepted meanwhile is refused
      closeServer();
      // the acceptor has left accept(): every connection it took is registered, so none is missed;
      // still under the lock, so that none accepted after a concurrent enable() is cut
      connections.endAll(Cause.DISABLED, false);
    } finally {
      lock.unlock();
    }
  }

  /** Listens again on the same address. */
  void enable(String proxy) {
    lock.lock();
    try {
      if (closed) {
        throw new IllegalStateException(proxy + ": closed");
      }
      if (enabled) {
        return;
      }
      ServerSocketChannel s;
      try {
        s = open(address);
        try {
          s.setOption(StandardSocketOptions.SO_REUSEADDR, true);
          s.bind(address, backlog);
        } catch (IOException | RuntimeException e) {
          s.close();
          throw e;
        }
      } catch (IOException e) {
        throw new IllegalStateException("enable: cannot listen on " + address.getHostString() + ":"
            + address.getPort() + " again (" + e.getMessage() + "); the proxy stays disabled", e);
      }
      server = s;
      enabled = true;
      changed.signalAll();
    } finally {
      lock.unlock();
    }
  }

  /** Stops listening for good; returns whether this call did (false if closed already). */
  boolean close() {
    lock.lock();
    try {
      if (closed) {
        return false;
      }
      closed = true;
      closeServer(); // also ends an acceptor waiting while disabled
      return true;
    } finally {
      lock.unlock();
    }
  }

  /**
   * Closes the listening socket and waits (holding the lock) until the acceptor has left accept():
   * only then does the OS close the socket, so the port is free and connections are refused when
   * this returns.
   */
  private void closeServer() {
    ServerSocketChannel old = server;
    try {
      old.close();
    } catch (IOException ignored) {
      // the port is released either way
    }
    changed.signalAll(); // an acceptor waiting while disabled looks again
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    long left;
    try {
      // done when the acceptor left accept() on it, or ended, or enable() bound a new listener on the
      // same address meanwhile (the wait releases the lock), which proves the old one closed
      while (acceptorLeft != old && !acceptorDone && server == old && (left = deadline - System.nanoTime()) > 0) {
        changed.awaitNanos(left);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  private void acceptLoop() {
    try {
      acceptConnections();
    } finally {
      lock.lock();
      try {
        acceptorDone = true;
        changed.signalAll(); // close() or disable() may be waiting for the acceptor
      } finally {
        lock.unlock();
      }
    }
  }

  private void acceptConnections() {
    while (!closed) {
      SocketChannel client;
      ServerSocketChannel listener = server;
      try {
        client = listener.accept();
      } catch (ClosedChannelException e) {
        if (!awaitListener(listener)) {
          return; // closed
        }
        continue; // disabled, then enabled: a new listener
      } catch (IOException e) { // e.g. out of file descriptors: back off instead of spinning
        if (closed) {
          return;
        }
        Log.warn(name + ": accept failed: " + e);
        try {
          Thread.sleep(10);
        } catch (InterruptedException ie) {
          return;
        }
        continue;
      }
      connections.admit(client, !enabled);
    }
  }

  /** Waits while the proxy is disabled; true once a listener other than {@code old} is up, false once closed. */
  private boolean awaitListener(ServerSocketChannel old) {
    lock.lock();
    try {
      acceptorLeft = old;
      changed.signalAll(); // disable() waits for this
      while (server == old && !closed) {
        changed.await();
      }
      return !closed;
    } catch (InterruptedException e) {
      return false;
    } finally {
      lock.unlock();
    }
  }
}
