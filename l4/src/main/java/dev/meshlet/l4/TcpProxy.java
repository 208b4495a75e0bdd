package dev.meshlet.l4;

import dev.meshlet.core.Balancer;
import dev.meshlet.core.Cluster;
import dev.meshlet.core.Journal;
import dev.meshlet.core.internal.JournalWriter;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.time.Duration;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.locks.LockSupport;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;

/**
 * A TCP proxy: accepts connections on a port and splices each one, byte for byte, to a backend the
 * cluster's balancer picks.
 *
 * <pre>{@code
 * try (TcpProxy proxy = TcpProxy.builder()
 *         .listen(0)                                   // 0 = ephemeral; proxy.port() tells the real one
 *         .backends(Backend.of("127.0.0.1", 5432), Backend.of("127.0.0.1", 5433))
 *         .balancer(Balancer.roundRobin())
 *         .connectTimeout(Duration.ofSeconds(2))
 *         .start()) {
 *     // point the client under test at proxy.port()
 * }
 * }</pre>
 *
 * <p>One platform thread accepts; each connection gets one virtual thread per direction doing
 * blocking reads and writes, so backpressure is the sockets' own: a slow reader never makes the
 * proxy buffer more than its buffers. A FIN from one side half-closes toward the other while the
 * other direction keeps flowing; a reset on one side resets the other. The client address is the
 * key for {@link Balancer#consistentHash()}.
 */
public final class TcpProxy implements AutoCloseable {
  private final boolean ownsCluster;
  private final InetSocketAddress address;
  private final long drainTimeoutNanos;
  private final BufferPool pool;
  private final Counters counters = new Counters();
  private final Threads threads;
  private final JournalWriter<TcpEvent> journal;
  private final Connections connections;
  private final Listener listener;
  private final long seed;

  TcpProxy(TcpProxyBuilder b, Cluster cluster, boolean ownsCluster, ServerSocketChannel server)
      throws IOException {
    this.ownsCluster = ownsCluster;
    this.address = (InetSocketAddress) server.getLocalAddress();
    // rounded up: a timeout under 1 ms must not become 0, which Socket.connect reads as "no
    // timeout"
    int connectTimeoutMillis =
        Math.clamp((b.connectTimeout.toNanos() + 999_999) / 1_000_000, 1, Integer.MAX_VALUE);
    this.drainTimeoutNanos = b.drainTimeout.toNanos();
    String name = "meshlet-l4 " + address;
    this.pool =
        new BufferPool(b.bufferSize, b.maxBufferSize(), b.bufferPoolSize, b.bufferMemory(), name);
    this.seed = b.seed != null ? b.seed : ThreadLocalRandom.current().nextLong();
    this.journal =
        JournalWriter.create(b.journalCapacity, name + " seed=" + Toxics.seedString(seed));
    this.threads = new Threads("meshlet-l4-" + address.getPort());
    this.connections =
        new Connections(
            name,
            cluster,
            counters,
            threads,
            pool,
            journal,
            seed,
            b.toxics,
            b.maxConnections,
            b.connectAttempts,
            connectTimeoutMillis,
            b.idleTimeout.toNanos(),
            b.opening(),
            new TlsSides(b.tls));
    this.listener = new Listener(name, server, b.backlog, connections, counters, threads);
  }

  /** Threads of this proxy still running (for leak checks in tests). */
  int liveThreads() {
    return threads.live();
  }

  /** The proxy's buffer pool (for tests in this package). */
  BufferPool pool() {
    return pool;
  }

  /** Starts building a proxy. */
  public static TcpProxyBuilder builder() {
    return new TcpProxyBuilder();
  }

  /** The port the proxy listens on (the real one when built with port 0). */
  public int port() {
    return address.getPort();
  }

  /** The address the proxy is bound to. */
  public InetSocketAddress address() {
    return address;
  }

  /**
   * The cluster the proxy forwards to (with {@link TcpProxyBuilder#sniRoute sniRoute}s, the default
   * one); add or remove backends on it while traffic flows.
   */
  public Cluster cluster() {
    return connections.cluster();
  }

  /**
   * Replaces the cluster in one step: new connections go to {@code next}, connections already open
   * stay on the backends they have until they end. The old cluster is not closed (the caller made
   * it, or {@link #close()} closes it when the proxy built it from {@link
   * TcpProxyBuilder#backends}).
   *
   * @return the cluster replaced
   */
  public Cluster replaceCluster(Cluster next) {
    Objects.requireNonNull(next, "next");
    return connections.replaceCluster(next);
  }

  /** A snapshot of the proxy's counters. */
  public TcpProxyStats stats() {
    return connections.stats();
  }

  /**
   * The toxics (network faults) applied to this proxy's connections; add and remove them while
   * traffic flows.
   */
  public Toxics toxics() {
    return connections.toxics();
  }

  /**
   * What this proxy did, connection by connection, for tests to assert on; see {@link TcpEvent}. A
   * connection's {@link TcpEvent.Closed} entry is recorded as the proxy finishes with it, a moment
   * after the client sees the close: wait for it with {@link #awaitIdle(Duration)} or {@link
   * Journal#awaitCount}.
   */
  public Journal<TcpEvent> journal() {
    return journal.journal();
  }

  /**
   * The seed of the random source every toxicity, jitter and slice size draws from, and the random
   * balancing of a cluster without a seed of its own; pass it to {@link TcpProxyBuilder#seed(long)}
   * to replay a run.
   */
  public long seed() {
    return seed;
  }

  /**
   * Takes the proxy "down", like Toxiproxy's {@code enabled: false}: the listening socket is
   * closed, so new connections are refused ("connection refused"), and connections open now are
   * closed. Toxics stay installed. {@link #enable()} undoes it. For a proxy that accepts and then
   * resets, add {@code Toxic.resetPeer(Duration.ZERO)} instead.
   */
  public void disable() {
    listener.disable();
  }

  /**
   * Stops accepting connections and lets the ones open now go on until they end: new connections
   * are refused, as after {@link #disable()}, but nothing open is cut. For an orderly shutdown
   * behind a load balancer (an admin endpoint's drain); {@link #enable()} listens again, {@link
   * #close()} still ends what is left after the drain timeout. Idempotent.
   */
  public void drain() {
    listener.stopAccepting();
  }

  /**
   * Brings the proxy back up after {@link #disable()} or {@link #drain()}: it listens again on the
   * same address and forwards new connections.
   *
   * @throws IllegalStateException if the proxy is closed, or the address was taken while the proxy
   *     was down (then it stays disabled)
   */
  public void enable() {
    listener.enable(toString());
  }

  /** Whether the proxy forwards new connections (false after {@link #disable()}). */
  public boolean isEnabled() {
    return listener.enabled();
  }

  /** The connections open now (for tests in this package). */
  Set<Connection> openConnections() {
    return connections.open();
  }

  /**
   * Waits until exactly {@code n} client connections are open.
   *
   * @throws AssertionError if that does not happen within {@code timeout}; the message gives the
   *     seed and the journal's last entries
   */
  public void awaitConnections(int n, Duration timeout) {
    await(
        n + " open connection(s)",
        timeout,
        () -> connections.active() == n,
        () -> "open now: " + connections.active());
  }

  /** Waits until no client connection is open; see {@link #awaitConnections(int, Duration)}. */
  public void awaitIdle(Duration timeout) {
    awaitConnections(0, timeout);
  }

  /**
   * Waits until at least {@code n} client connections have been accepted since the proxy started.
   */
  public void awaitAccepted(long n, Duration timeout) {
    await(
        n + " accepted connection(s)",
        timeout,
        () -> counters.accepted.sum() >= n,
        () -> "accepted so far: " + counters.accepted.sum());
  }

  private void await(String what, Duration timeout, BooleanSupplier done, Supplier<String> now) {
    Objects.requireNonNull(timeout, "timeout");
    long deadline = System.nanoTime() + timeout.toNanos();
    while (!done.getAsBoolean()) {
      if (System.nanoTime() - deadline > 0) {
        throw new AssertionError(
            this
                + ": timed out after "
                + timeout
                + " waiting for "
                + what
                + "; "
                + now.get()
                + "; "
                + journal.journal().describeTail(10));
      }
      LockSupport.parkNanos(1_000_000);
    }
  }

  /** Starts the threads once the builder holds the constructed proxy. */
  void begin() {
    connections.start();
    listener.start();
    Log.debug(() -> "meshlet-l4 listening on " + address + " -> " + cluster());
  }

  /**
   * Stops accepting at once, lets open connections finish for up to the drain timeout, then closes
   * what is left. When it returns the port can be bound again and none of the proxy's threads is
   * alive. Idempotent.
   */
  @Override
  public void close() {
    if (!listener.close()) {
      threads.awaitAll(toString());
      return;
    }
    connections.drain(
        drainTimeoutNanos); // only now: whoever sees draining can rely on the port being closed
    threads.shutdown(toString());
    if (ownsCluster) {
      cluster().close();
    }
  }

  @Override
  public String toString() {
    return "TcpProxy["
        + address
        + " -> "
        + cluster().name()
        + ", seed="
        + Toxics.seedString(seed)
        + "]";
  }
}
