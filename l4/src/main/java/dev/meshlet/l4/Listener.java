package dev.meshlet.l4;

import dev.meshlet.core.internal.Bind;
import java.io.IOException;
import java.net.BindException;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.StandardProtocolFamily;
import java.net.StandardSocketOptions;
import java.net.UnknownHostException;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantLock;
import org.jspecify.annotations.Nullable;

/**
 * The listening socket and its acceptor thread, and whether the proxy is enabled: while disabled
 * the socket is closed (new connections are refused by the OS) and the acceptor waits for a new
 * one. Every accepted socket goes to the {@link Connections}.
 */
final class Listener {
  private static final long MIN_BACKOFF_NANOS = TimeUnit.MILLISECONDS.toNanos(1);

  /**
   * The longest wait between failed accepts: connections are taken again at most this late once fds
   * are free.
   */
  private static final long MAX_BACKOFF_NANOS = TimeUnit.MILLISECONDS.toNanos(50);

  /** Accept failures this close to the previous one belong to the same episode (logged once). */
  private static final long QUIET_NANOS = TimeUnit.SECONDS.toNanos(5);

  private final String name;
  private final InetSocketAddress address;
  private final int backlog;
  private final Connections connections;
  private final Counters counters;

  /** Closed while the proxy is disabled, and a new one bound on enable. */
  private volatile ServerSocketChannel server;

  private volatile boolean enabled = true;
  private volatile boolean closed;

  /** Guards enable/disable/close against each other; the acceptor waits on it while disabled. */
  private final ReentrantLock lock = new ReentrantLock();

  private final Condition changed = lock.newCondition();

  /**
   * The last closed listener the acceptor has left accept() of (each listener is a new object);
   * guarded by lock.
   */
  private @Nullable ServerSocketChannel acceptorLeft;

  /** The acceptor has ended, however; guarded by lock. */
  private boolean acceptorDone;

  private final Thread acceptor;

  Listener(
      String name,
      ServerSocketChannel server,
      int backlog,
      Connections connections,
      Counters counters,
      Threads threads)
      throws IOException {
    this.name = name;
    this.server = server;
    this.address = (InetSocketAddress) server.getLocalAddress();
    this.backlog = backlog;
    this.connections = connections;
    this.counters = counters;
    this.acceptor = threads.platform("accept", this::acceptLoop);
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
   * Binds {@code host:port} for a new proxy.
   *
   * @throws BindException naming the address, when it is in use or not this machine's
   * @throws IllegalArgumentException when {@code host} does not resolve
   */
  static ServerSocketChannel listen(String host, int port, int backlog) throws IOException {
    InetSocketAddress address;
    try {
      address = new InetSocketAddress(InetAddress.getByName(host), port);
    } catch (UnknownHostException e) {
      throw new IllegalArgumentException("listen host '" + host + "': unknown host", e);
    }
    try {
      return bind(address, backlog);
    } catch (BindException e) {
      throw Bind.failed(host, port, e);
    }
  }

  /**
   * A channel listening on {@code address}, of the address's own family: an IPv4 address (other
   * than the wildcard, which stays dual-stack) gets an IPv4 socket, so accepted connections skip
   * the IPv4-mapped IPv6 path.
   */
  private static ServerSocketChannel bind(InetSocketAddress address, int backlog)
      throws IOException {
    InetAddress ip = address.getAddress();
    ServerSocketChannel s =
        ip instanceof Inet4Address && !ip.isAnyLocalAddress()
            ? ServerSocketChannel.open(StandardProtocolFamily.INET)
            : ServerSocketChannel.open();
    try {
      s.setOption(StandardSocketOptions.SO_REUSEADDR, true);
      s.bind(address, backlog);
      return s;
    } catch (IOException | RuntimeException e) {
      s.close();
      throw e;
    }
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

  /** Closes the listening socket and leaves the connections open now to finish. */
  void stopAccepting() {
    lock.lock();
    try {
      if (!enabled) {
        return;
      }
      enabled = false; // before the socket closes: a connection accepted meanwhile is refused
      closeServer();
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
        s = bind(address, backlog);
      } catch (IOException e) {
        throw new IllegalStateException(
            "enable: cannot listen on "
                + address.getHostString()
                + ":"
                + address.getPort()
                + " again ("
                + e.getMessage()
                + "); the proxy stays disabled",
            e);
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
      // done when the acceptor left accept() on it, or ended, or enable() bound a new listener on
      // the
      // same address meanwhile (the wait releases the lock), which proves the old one closed
      while (acceptorLeft != old
          && !acceptorDone
          && server == old
          && (left = deadline - System.nanoTime()) > 0) {
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

  /**
   * Accepts until the proxy closes. Nothing that goes wrong ends the loop: when accept() fails
   * (most often no file descriptor is left: EMFILE) it retries after a back-off that doubles from 1
   * ms to {@link #MAX_BACKOFF_NANOS}, counting each failure. An episode of failures is logged once
   * when it starts and once when accepting works again; it ends after {@link #QUIET_NANOS} without
   * failure (while descriptors run short, accepts fail and succeed by turns).
   */
  private void acceptConnections() {
    long backoffNanos = 0; // > 0 while accept() keeps failing
    boolean inEpisode = false;
    boolean recoveryLogged = false;
    long lastFailure = 0;
    long failedInEpisode = 0;
    while (!closed) {
      ServerSocketChannel listener = server;
      SocketChannel client;
      try {
        client = listener.accept();
      } catch (ClosedChannelException e) {
        if (!awaitListener(listener)) {
          return; // closed
        }
        continue; // disabled, then enabled: a new listener
      } catch (Throwable e) { // an Error from the JDK must not end the acceptor either
        if (closed) {
          return;
        }
        counters.acceptFailures.increment();
        long now = System.nanoTime();
        if (!inEpisode || now - lastFailure > QUIET_NANOS) {
          inEpisode = true;
          recoveryLogged = false;
          failedInEpisode = 0;
          Log.warn(
              name
                  + ": accept failed ("
                  + e
                  + "); retrying every "
                  + MAX_BACKOFF_NANOS / 1_000_000
                  + " ms at most until it works again; each failure is counted in stats().acceptFailures");
        }
        failedInEpisode++;
        lastFailure = now;
        backoffNanos =
            backoffNanos == 0 ? MIN_BACKOFF_NANOS : Math.min(2 * backoffNanos, MAX_BACKOFF_NANOS);
        LockSupport.parkNanos(
            backoffNanos); // close() wakes it by closing the socket: at most one back-off late
        continue;
      }
      if (backoffNanos != 0) {
        backoffNanos = 0;
        if (inEpisode && !recoveryLogged) {
          recoveryLogged = true;
          Log.warn(
              name
                  + ": accepting again after "
                  + failedInEpisode
                  + " failed accept(s); failures within "
                  + QUIET_NANOS / 1_000_000_000
                  + " s of the last one are counted, not logged");
        }
      }
      try {
        connections.admit(client, !enabled);
      } catch (Throwable e) { // the connection is lost, the acceptor goes on
        Connection.closeQuietly(client);
        Log.warn(name + ": could not take a connection: " + e);
      }
    }
  }

  /**
   * Waits while the proxy is disabled; true once a listener other than {@code old} is up, false
   * once closed.
   */
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
