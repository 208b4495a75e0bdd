package dev.meshlet.l4;

import dev.meshlet.core.Backend;
import dev.meshlet.core.Balancer;
import dev.meshlet.core.Cluster;
import dev.meshlet.core.Journal;
import dev.meshlet.core.internal.Checks;
import dev.meshlet.core.internal.JournalWriter;
import java.io.IOException;
import java.net.BindException;
import java.net.InetSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.locks.LockSupport;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;
import org.jspecify.annotations.Nullable;

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

  private TcpProxy(Builder b, Cluster cluster, boolean ownsCluster, ServerSocketChannel server)
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
            b.idleTimeout.toNanos());
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
  public static Builder builder() {
    return new Builder();
  }

  /** The port the proxy listens on (the real one when built with port 0). */
  public int port() {
    return address.getPort();
  }

  /** The address the proxy is bound to. */
  public InetSocketAddress address() {
    return address;
  }

  /** The cluster the proxy forwards to; add or remove backends on it while traffic flows. */
  public Cluster cluster() {
    return connections.cluster();
  }

  /**
   * Replaces the cluster in one step: new connections go to {@code next}, connections already open
   * stay on the backends they have until they end. The old cluster is not closed (the caller made
   * it, or {@link #close()} closes it when the proxy built it from {@link Builder#backends}).
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
   * balancing of a cluster without a seed of its own; pass it to {@link Builder#seed(long)} to
   * replay a run.
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
   * Brings the proxy back up after {@link #disable()}: it listens again on the same address and
   * forwards new connections.
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

  public static final class Builder {
    private String host = "0.0.0.0";
    private int port = -1;
    private final List<Backend> backends = new ArrayList<>();
    private @Nullable Balancer balancer;
    private @Nullable Cluster cluster;
    private Duration connectTimeout = Duration.ofSeconds(5);
    private int connectAttempts = 3;
    private Duration idleTimeout = Duration.ofHours(1);
    private Duration drainTimeout = Duration.ofSeconds(5);
    private int maxConnections = 10_000;
    private int bufferSize = 64 * 1024;
    private @Nullable Integer maxBufferSize;
    private @Nullable Long bufferMemory;
    private int bufferPoolSize = 256;
    private int backlog = 1024;
    private @Nullable Long seed;
    private int journalCapacity = 10_000;
    private final Map<String, Toxic> toxics = new LinkedHashMap<>();
    private static final int MAX_BUFFER = 16 * 1024 * 1024;

    private Builder() {}

    /** The largest read buffer: as set, or 1 MiB (at least {@link #bufferSize}). */
    int maxBufferSize() {
      Integer max = maxBufferSize;
      return max != null ? max : Math.max(1024 * 1024, bufferSize);
    }

    /** The limit on lent buffer bytes: as set, or a quarter of the max heap, at most 256 MiB. */
    long bufferMemory() {
      Long limit = bufferMemory;
      return limit != null
          ? limit
          : Math.min(256L * 1024 * 1024, Runtime.getRuntime().maxMemory() / 4);
    }

    /**
     * The seed for every random draw the toxics make (toxicity, jitter, slice sizes); default a
     * random one, reported by {@link TcpProxy#seed()} and in {@link TcpProxy#toString()}. The same
     * seed and the same order of connections give the same faults. A cluster without a {@linkplain
     * Cluster.Builder#seed(long) seed} of its own (the first proxy to offer one wins) takes it for
     * its random picks too, so they replay as well.
     */
    public Builder seed(long seed) {
      this.seed = seed;
      return this;
    }

    /**
     * How many entries the {@linkplain TcpProxy#journal() journal} keeps (the oldest are dropped
     * and counted beyond that); default 10,000; 0 keeps none.
     */
    public Builder journalCapacity(int entries) {
      if (entries < 0) {
        throw new IllegalArgumentException("journalCapacity: " + entries + " (expected: >= 0)");
      }
      this.journalCapacity = entries;
      return this;
    }

    /** A toxic installed from the start, as if added with {@link Toxics#add(String, Toxic)}. */
    public Builder toxic(String name, Toxic toxic) {
      Objects.requireNonNull(name, "name");
      Objects.requireNonNull(toxic, "toxic");
      if (toxics.putIfAbsent(name, toxic) != null) {
        throw new IllegalArgumentException("toxic '" + name + "' given twice");
      }
      return this;
    }

    /**
     * Listens on all interfaces (the wildcard address {@code 0.0.0.0}) at {@code port}, so other
     * machines can reach it; use {@link #listen(String, int)} with {@code 127.0.0.1} for this
     * machine only, as a test should. 0 picks a free port. Required (or {@code listen(host,
     * port)}).
     */
    public Builder listen(int port) {
      return listen("0.0.0.0", port);
    }

    /** Listens on {@code host} (a local address or name) at {@code port}; 0 picks a free port. */
    public Builder listen(String host, int port) {
      Objects.requireNonNull(host, "host");
      if (port < 0 || port > 65535) {
        throw new IllegalArgumentException(
            "listen port: " + port + " (expected: 0-65535, 0 for any free port)");
      }
      this.host = host;
      this.port = port;
      return this;
    }

    /** The backends to forward to, balanced by {@link #balancer(Balancer)}. */
    public Builder backends(Backend... backends) {
      return backends(Arrays.asList(backends));
    }

    /** The backends to forward to, balanced by {@link #balancer(Balancer)}. */
    public Builder backends(List<Backend> backends) {
      for (Backend b : backends) {
        this.backends.add(Objects.requireNonNull(b, "backend"));
      }
      return this;
    }

    /** The balancer over {@link #backends(Backend...)}; default {@link Balancer#roundRobin()}. */
    public Builder balancer(Balancer balancer) {
      this.balancer = Objects.requireNonNull(balancer, "balancer");
      return this;
    }

    /** Forward to an existing cluster (which brings its balancer) instead of listing backends. */
    public Builder cluster(Cluster cluster) {
      this.cluster = Objects.requireNonNull(cluster, "cluster");
      return this;
    }

    /**
     * How long one attempt to connect to a backend may take, rounded up to whole milliseconds;
     * default 5 s.
     */
    public Builder connectTimeout(Duration timeout) {
      this.connectTimeout = Checks.positive("connectTimeout", timeout);
      return this;
    }

    /**
     * How many backends to try, one after the other, before the client connection is closed
     * (Envoy's {@code max_connect_attempts}); default 3, never more than the backends in service.
     */
    public Builder connectAttempts(int attempts) {
      if (attempts < 1) {
        throw new IllegalArgumentException("connectAttempts: " + attempts + " (expected: >= 1)");
      }
      this.connectAttempts = attempts;
      return this;
    }

    /**
     * Closes a connection with no traffic in either direction for this long; default 1 h; zero
     * disables.
     */
    public Builder idleTimeout(Duration timeout) {
      this.idleTimeout = Checks.notNegative("idleTimeout", timeout);
      return this;
    }

    /**
     * How long {@link TcpProxy#close()} lets open connections finish before cutting them; default 5
     * s.
     */
    public Builder drainTimeout(Duration timeout) {
      this.drainTimeout = Checks.notNegative("drainTimeout", timeout);
      return this;
    }

    /**
     * The most client connections open at once; default 10,000 (each costs two file descriptors,
     * see {@code ulimit -n}). When it is reached the proxy still accepts, so clients are not left
     * waiting in the backlog: each connection beyond it is closed at once, before any backend is
     * dialled (the client reads an end of stream, not "connection refused"), counted in {@link
     * TcpProxyStats#rejected()}, and the first is logged. Connections are taken again as soon as
     * open ones end.
     */
    public Builder maxConnections(int max) {
      if (max < 1) {
        throw new IllegalArgumentException("maxConnections: " + max + " (expected: >= 1)");
      }
      this.maxConnections = max;
      return this;
    }

    /**
     * The size of the direct buffer a direction borrows when a burst of bytes starts; default 64
     * KiB, between 1 KiB and 16 MiB. An idle connection holds only {@value ReadBuffers#SMALL} bytes
     * per direction and no borrowed buffer.
     */
    public Builder bufferSize(int bytes) {
      if (bytes < 1024 || bytes > MAX_BUFFER) {
        throw new IllegalArgumentException(
            "bufferSize: " + bytes + " (expected: 1024 to 16777216 bytes)");
      }
      this.bufferSize = bytes;
      return this;
    }

    /**
     * The largest buffer a streaming direction grows to: while its reads keep filling the buffer
     * and more bytes wait, it swaps it for one 4× larger, up to this size, so a bulk stream moves
     * more bytes per system call (see bench/RESULTS.md). Default 1 MiB, or {@link #bufferSize} if
     * larger; at least {@code bufferSize}, at most 16 MiB.
     */
    public Builder maxBufferSize(int bytes) {
      if (bytes < 1024 || bytes > MAX_BUFFER) {
        throw new IllegalArgumentException(
            "maxBufferSize: " + bytes + " (expected: 1024 to 16777216 bytes)");
      }
      this.maxBufferSize = bytes;
      return this;
    }

    /**
     * The most bytes of direct buffers lent to connections at once. Past it a direction that wants
     * a (larger) buffer goes on with a smaller size that fits, or with its {@value
     * ReadBuffers#SMALL}-byte heap buffer: slower, never stalled. Each such read is counted in
     * {@link TcpProxyStats#bufferLimitHits()} and the first is logged (running out of the JVM's
     * direct memory is treated alike, and logged once too). Default a quarter of the JVM's maximum
     * heap (the default limit of direct memory is the maximum heap), at most 256 MiB; a value below
     * {@link #bufferSize}, such as 0, means never borrow (every read is at most {@value
     * ReadBuffers#SMALL} bytes).
     */
    public Builder bufferMemory(long bytes) {
      if (bytes < 0) {
        throw new IllegalArgumentException("bufferMemory: " + bytes + " (expected: >= 0 bytes)");
      }
      this.bufferMemory = bytes;
      return this;
    }

    /**
     * How many free buffers of {@link #bufferSize} the proxy keeps for reuse; default 256. Each
     * larger size keeps as many bytes in fewer buffers (at least one), so by default up to 16 MiB
     * per size, 48 MiB in all, stay allocated after bursts.
     */
    public Builder bufferPoolSize(int buffers) {
      if (buffers < 0) {
        throw new IllegalArgumentException("bufferPoolSize: " + buffers + " (expected: >= 0)");
      }
      this.bufferPoolSize = Math.max(1, buffers);
      return this;
    }

    /**
     * The accept backlog: how many connections the OS queues, handshake done, before the proxy
     * accepts them; default 1024. The kernel caps it at {@code net.core.somaxconn} on Linux (4096
     * on recent kernels, 128 on old ones) without telling: a larger value is effectively that. A
     * connection that finds the queue full waits for its SYN to be retried (about a second), so a
     * burst of connects larger than the backlog is answered more slowly, not refused. The acceptor
     * keeps up with bursts of thousands (a connection costs it an accept and a virtual thread), so
     * the queue rarely fills.
     */
    public Builder acceptBacklog(int backlog) {
      if (backlog < 1) {
        throw new IllegalArgumentException("acceptBacklog: " + backlog + " (expected: >= 1)");
      }
      this.backlog = backlog;
      return this;
    }

    /**
     * Validates the settings, binds the port and starts accepting.
     *
     * @throws IllegalStateException if the settings do not make a proxy (no port, no backends, …)
     * @throws BindException naming the address, if it cannot be bound (in use, or not an address of
     *     this machine)
     * @throws IOException if the port cannot be opened for another reason
     */
    public TcpProxy start() throws IOException {
      boolean owns = cluster == null;
      if (port < 0) {
        throw new IllegalStateException(
            "no listen port: call listen(port), e.g. listen(0) for any free port");
      }
      Cluster c = cluster;
      if (c != null && !backends.isEmpty()) {
        throw new IllegalStateException("both cluster(...) and backends(...) given: use one");
      }
      if (c != null && balancer != null) {
        throw new IllegalStateException(
            "balancer(...) applies to backends(...); cluster "
                + c.name()
                + " brings its own balancer");
      }
      Integer max = maxBufferSize;
      if (max != null && max < bufferSize) {
        throw new IllegalStateException(
            "maxBufferSize "
                + max
                + " is smaller than bufferSize "
                + bufferSize
                + ": raise maxBufferSize or lower bufferSize");
      }
      if (c == null) {
        if (backends.isEmpty()) {
          throw new IllegalStateException("no backends: call backends(...) or cluster(...)");
        }
        c =
            Cluster.builder("l4-" + (port == 0 ? "ephemeral" : port))
                .backends(backends)
                .balancer(balancer != null ? balancer : Balancer.roundRobin())
                .build();
      }
      ServerSocketChannel server = Listener.listen(host, port, backlog);
      TcpProxy proxy;
      try {
        proxy = new TcpProxy(this, c, owns, server);
      } catch (IOException
          | RuntimeException e) { // the port must not stay bound by a proxy never returned
        server.close();
        throw e;
      }
      proxy.connections.start();
      proxy.listener.start();
      Log.debug(() -> "meshlet-l4 listening on " + proxy.address + " -> " + proxy.cluster());
      return proxy;
    }
  }
}
