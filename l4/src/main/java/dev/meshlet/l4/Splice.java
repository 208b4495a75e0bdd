package dev.meshlet.l4;

import dev.meshlet.core.Cluster;
import dev.meshlet.core.Endpoint;
import java.io.IOException;
import java.io.InputStream;
import java.net.Inet4Address;
import java.net.InetSocketAddress;
import java.net.StandardProtocolFamily;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.IntSupplier;
import org.jspecify.annotations.Nullable;

/**
 * One proxied connection: the client socket, the backend socket once connected, and the two
 * directions spliced between them, each on its own virtual thread with blocking I/O. Each direction
 * reads through its {@link ReadBuffers}: a small heap buffer while idle, pooled direct buffers
 * (growing while reads fill them) only while a burst lasts.
 */
final class Splice {
  private final TcpProxy proxy;
  /** The cluster when the connection arrived: a live update applies to later connections only. */
  private final Cluster cluster;
  private final SocketChannel client;
  private boolean acquired;
  private volatile @Nullable SocketChannel upstream;
  private volatile @Nullable Endpoint endpoint;
  private final AtomicInteger openDirections = new AtomicInteger(2);
  private final AtomicBoolean ended = new AtomicBoolean();
  private volatile boolean closing;
  /** Bumped on every read in either direction; the idle reaper compares it between scans. */
  volatile long activity;
  /** Owned by the reaper thread. */
  long seenActivity = -1;
  long seenSince;
  /** Numbered from 1 in accept order; the journal and the toxics' draws use it. */
  final long id;
  /** The toxics in effect on this connection (usually none). */
  private final ConnectionToxics toxics;
  /** Bytes forwarded per direction, each written by its direction's thread only (for the journal). */
  private long bytesUp;
  private long bytesDown;
  /** Chunks held by a latency toxic, per direction; made by that direction's thread when first needed. */
  private volatile @Nullable DelayLine upLine;
  private volatile @Nullable DelayLine downLine;
  /** Why the connection ended, for the journal; the first cause set wins. */
  private volatile @Nullable String cause;

  Splice(TcpProxy proxy, SocketChannel client) {
    this.proxy = proxy;
    this.cluster = proxy.cluster();
    this.client = client;
    this.seenSince = System.nanoTime();
    this.id = proxy.nextConnectionId();
    proxy.journal().record(new TcpEvent.Opened(id, remote(client), java.time.Instant.now()));
    this.toxics = proxy.toxics().attach(this, id);
  }

  /** Connects to a backend, then splices; runs on the connection's first virtual thread. */
  void run() {
    if (!proxy.toxics().enabled()) { // "down": refuse by resetting at once, before any backend is touched
      proxy.journal().record(new TcpEvent.Refused(id, remote(client), java.time.Instant.now()));
      cut("disabled", true);
      return;
    }
    SocketChannel up = connect();
    if (up == null) {
      because("no backend");
      end();
      return;
    }
    Endpoint chosen = endpoint;
    if (chosen != null) {
      proxy.journal().record(new TcpEvent.Connected(id, chosen.backend(), java.time.Instant.now()));
    }
    try {
      proxy.executor().execute(() -> pump(up, client, false));
    } catch (RuntimeException rejected) { // the proxy is shutting down
      openDirections.decrementAndGet();
      closeBoth(false);
    }
    pump(client, up, true);
  }

  private @Nullable SocketChannel connect() {
    Cluster cluster = this.cluster;
    if (!cluster.tryAcquire()) { // the cluster's circuit breaker is open: refuse at once
      proxy.overflow();
      because("overflow: cluster " + cluster.name() + " max active");
      return null;
    }
    acquired = true;
    if (!cluster.tryAcquirePending()) { // too many connections wait for their backend connection
      proxy.overflow();
      because("overflow: cluster " + cluster.name() + " max pending");
      return null;
    }
    try {
      return connectTo(cluster);
    } finally {
      cluster.releasePending();
    }
  }

  private @Nullable SocketChannel connectTo(Cluster cluster) {
    long key;
    try {
      key = ((InetSocketAddress) client.getRemoteAddress()).getAddress().hashCode();
    } catch (IOException | RuntimeException e) {
      key = 0;
    }
    int attempts = Math.min(proxy.connectAttempts(), Math.max(1, cluster.available().size()));
    Endpoint previous = null;
    for (int attempt = 0; attempt < attempts && !closing; attempt++) {
      Endpoint e = attempt == 0 ? cluster.pick(key) : cluster.pick(key, attempt, previous);
      if (e == null) {
        break;
      }
      SocketChannel ch = null;
      try {
        ch = open(e.address());
        ch.setOption(StandardSocketOptions.TCP_NODELAY, true);
        ch.socket().connect(e.address(), proxy.connectTimeoutMillis());
        e.succeeded();
        e.begin();
        endpoint = e;
        upstream = ch;
        if (closing) { // close() raced with the connect
          closeBoth(false);
          return null;
        }
        return ch;
      } catch (IOException | RuntimeException ex) { // RuntimeException: unresolved address
        closeQuietly(ch);
        e.failed();
        proxy.connectFailed(e, ex);
        previous = e;
      }
    }
    proxy.noBackend();
    return null;
  }

  /** A channel of the backend address's family: an IPv4 backend gets an IPv4 socket (no IPv6 option to set). */
  private static SocketChannel open(InetSocketAddress backend) throws IOException {
    return backend.getAddress() instanceof Inet4Address
        ? SocketChannel.open(StandardProtocolFamily.INET)
        : SocketChannel.open();
  }

  private void pump(SocketChannel src, SocketChannel dst, boolean toUpstream) {
    ReadBuffers buffers = new ReadBuffers(proxy.pool(), waitingOn(src));
    try {
      while (true) {
        ByteBuffer buf = buffers.current();
        int n = src.read(buf);
        if (n < 0) {
          DelayLine line = toUpstream ? upLine : downLine;
          if (line != null) {
            line.drain(); // the end of stream follows the delayed data
          }
          ActiveToxic[] faults = toxics.active(toUpstream);
          if (faults.length != 0) {
            ToxicPath.beforeEndOfStream(faults);
          }
          if (openDirections.get() > 1) {
            dst.shutdownOutput(); // half-close: the other direction keeps flowing
          } // else the other direction ended already: closing both (below) sends the FIN, one syscall less
          break;
        }
        activity++;
        buf.flip();
        ActiveToxic[] faults = toxics.active(toUpstream);
        int sent = n;
        // the fast path, unless toxics act or once held bytes a chunk might overtake (ToxicPath decides)
        if (faults.length == 0 && (toUpstream ? upLine : downLine) == null) {
          while (buf.hasRemaining()) {
            dst.write(buf);
          }
        } else {
          sent = ToxicPath.forward(this, faults, buf, dst, toUpstream);
        }
        buf.clear();
        if (sent != 0) { // 0: queued, and the delay line's thread counts it (not both at once)
          account(toUpstream, sent);
        }
        buffers.afterRead(n, faults.length == 0);
      }
    } catch (IOException | RuntimeException e) {
      if (!closing) {
        reset();
      }
    } finally {
      buffers.release();
      if (openDirections.decrementAndGet() == 0) {
        closeBoth(false);
      }
    }
  }

  /**
   * Tells the bytes waiting to be read on {@code ch} (one ioctl, FIONREAD); 0 if that cannot be told.
   * Asked only after a read filled its buffer; the stream is made at the first such read.
   */
  private static IntSupplier waitingOn(SocketChannel ch) {
    InputStream[] in = new InputStream[1];
    return () -> {
      try {
        InputStream s = in[0];
        if (s == null) {
          s = in[0] = ch.socket().getInputStream();
        }
        return s.available();
      } catch (IOException e) { // closed or shut down: nothing more to read for this burst
        return 0;
      }
    };
  }

  /** TCP_NODELAY on the client socket and on the backend socket (for tests in this package). */
  boolean[] noDelay() throws IOException {
    SocketChannel up = upstream;
    return new boolean[] {
        client.getOption(StandardSocketOptions.TCP_NODELAY),
        up != null && up.getOption(StandardSocketOptions.TCP_NODELAY)};
  }

  /** The toxics in effect on one direction now. */
  ActiveToxic[] toxicsFor(boolean toUpstream) {
    return toxics.active(toUpstream);
  }

  /**
   * The direction's delay line, made if {@code create}; null if it has none. Called by the direction's
   * own thread only. It holds up to 16 read buffers' worth of bytes (1 MiB by default).
   */
  @Nullable DelayLine delayLine(boolean toUpstream, boolean create) {
    DelayLine line = toUpstream ? upLine : downLine;
    SocketChannel dst = toUpstream ? upstream : client;
    if (line == null && create && dst != null) {
      line = new DelayLine(this, proxy, dst, toUpstream, 16 * proxy.pool().bufferSize());
      if (toUpstream) {
        upLine = line;
      } else {
        downLine = line;
      }
      if (closing) { // closeBoth() may have run before the line was published
        line.close();
      }
    }
    return line;
  }

  /** A delay line's write failed: as a failed write on the direction's own thread. */
  void failed() {
    if (!closing) {
      reset();
    }
  }

  /** Counts bytes forwarded; called by the direction's own thread or its delay line's, never both at once. */
  void account(boolean toUpstream, int sent) {
    if (toUpstream) {
      bytesUp += sent;
    } else {
      bytesDown += sent;
    }
    proxy.transferred(endpoint, toUpstream, sent);
  }

  /** A reset or I/O error on one side: send RST to both, as the peer that saw nothing would expect. */
  private void reset() {
    because("reset");
    proxy.resetSeen();
    closeBoth(true);
  }

  /** The idle timeout fired. */
  void idleClose() {
    because("idle timeout");
    closeBoth(false);
  }

  /** The proxy is closing and the drain deadline has passed. */
  void forceClose() {
    because("proxy closed");
    closeBoth(true);
  }

  /** A toxic, or disabling the proxy, ends the connection: FIN both ways, or RST if {@code rst}. */
  void cut(String why, boolean rst) {
    because(why);
    if (!rst) { // a FIN after the bytes already written, even if a direction's thread is still blocked
      closing = true; // the other direction's failing I/O is then no reason to reset
      shutdownOutputQuietly(client);
      SocketChannel up = upstream;
      if (up != null) {
        shutdownOutputQuietly(up);
      }
    }
    closeBoth(rst);
  }

  private static void shutdownOutputQuietly(SocketChannel ch) {
    try {
      ch.shutdownOutput();
    } catch (IOException | RuntimeException ignored) {
      // closed already
    }
  }

  private void because(String why) {
    if (cause == null) {
      cause = why;
    }
  }

  private static InetSocketAddress remote(SocketChannel ch) {
    try {
      if (ch.getRemoteAddress() instanceof InetSocketAddress a) {
        return a;
      }
    } catch (IOException | RuntimeException e) {
      // closed already: the journal says "unknown"
    }
    return InetSocketAddress.createUnresolved("unknown", 0);
  }

  private void closeBoth(boolean rst) {
    closing = true;
    closeLine(upLine);
    closeLine(downLine);
    SocketChannel up = upstream;
    if (rst) {
      linger0(client);
      if (up != null) {
        linger0(up);
      }
    }
    closeQuietly(client);
    closeQuietly(up);
    end();
  }

  private void end() {
    if (ended.compareAndSet(false, true)) {
      closing = true;
      closeQuietly(client);
      Endpoint e = endpoint;
      if (e != null) {
        e.end();
      }
      if (acquired) {
        cluster.release();
      }
      proxy.toxics().detach(toxics);
      String why = cause;
      proxy.journal().record(new TcpEvent.Closed(
          id, bytesUp, bytesDown, why != null ? why : "closed", java.time.Instant.now()));
      proxy.ended(this);
    }
  }

  private static void closeLine(@Nullable DelayLine line) {
    if (line != null) {
      line.close();
    }
  }

  private static void linger0(SocketChannel ch) {
    try {
      ch.setOption(StandardSocketOptions.SO_LINGER, 0);
    } catch (IOException | RuntimeException ignored) {
      // already closed: nothing to reset
    }
  }

  static void closeQuietly(@Nullable SocketChannel ch) {
    if (ch != null) {
      try {
        ch.close();
      } catch (IOException ignored) {
        // closing is best effort
      }
    }
  }
}
