package dev.meshlet.l4;

import dev.meshlet.core.Backend;
import dev.meshlet.core.Balancer;
import dev.meshlet.core.Cluster;
import dev.meshlet.core.Endpoint;
import dev.meshlet.core.Journal;
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
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantLock;
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
 * <p>One virtual thread accepts; each connection gets one virtual thread per direction doing blocking
 * reads and writes, so backpressure is the sockets' own: a slow reader never makes the proxy buffer
 * more than its buffers. A FIN from one side half-closes toward the other while the other direction
 * keeps flowing; a reset on one side resets the other. The client address is the key for
 * {@link Balancer#consistentHash()}.
 */
public final class TcpProxy implements AutoCloseable {
  private static final System.Logger LOG = System.getLogger(TcpProxy.class.getName());

  private volatile Cluster cluster;
  private final boolean ownsCluster;
  /** The listening socket; closed while the proxy is disabled, and a new one bound on enable. */
  private volatile ServerSocketChannel server;
  private final int backlog;
  /** Guards disable/enable/close against each other; the acceptor waits on it while disabled. */
  private final ReentrantLock listenLock = new ReentrantLock();
  private final Condition listenerChanged = listenLock.newCondition();
  /** The last closed listener the acceptor has left accept() of (each listener is a new object); guarded by listenLock. */
  private @Nullable ServerSocketChannel acceptorLeft;
  /** The acceptor has ended, however; guarded by listenLock. */
  private boolean acceptorDone;
  private final InetSocketAddress address;
  private final int connectTimeoutMillis;
  private final int connectAttempts;
  private final long idleTimeoutNanos;
  private final long drainTimeoutNanos;
  private final int maxConnections;
  private final BufferPool pool;
  private final ExecutorService executor;
  private final Set<Splice> connections = ConcurrentHashMap.newKeySet();
  private final AtomicInteger active = new AtomicInteger();
  private final AtomicInteger liveThreads = new AtomicInteger();
  private final LongAdder accepted = new LongAdder();
  private final LongAdder rejected = new LongAdder();
  private final LongAdder connectFailures = new LongAdder();
  private final LongAdder noBackend = new LongAdder();
  private final LongAdder overflows = new LongAdder();
  private final LongAdder idleTimeouts = new LongAdder();
  private final LongAdder resets = new LongAdder();
  private final LongAdder bytesUpstream = new LongAdder();
  private final LongAdder bytesDownstream = new LongAdder();
  private final AtomicBoolean loggedMaxConnections = new AtomicBoolean();
  private final AtomicBoolean closed = new AtomicBoolean();
  private final ReentrantLock drainLock = new ReentrantLock();
  private final Condition drained = drainLock.newCondition();
  /** Signalled (under drainLock) when the last of the proxy's threads has finished its task. */
  private final Condition threadsEnded = drainLock.newCondition();
  private final Thread acceptor;
  private final @Nullable Thread reaper;
  private volatile boolean draining;
  private final AtomicLong connectionIds = new AtomicLong();
  private final Journal<TcpEvent> journal;
  private final Toxics toxics;

  private TcpProxy(Builder b, Cluster cluster, boolean ownsCluster, ServerSocketChannel server) throws IOException {
    this.cluster = cluster;
    this.ownsCluster = ownsCluster;
    this.server = server;
    this.backlog = b.backlog;
    this.address = (InetSocketAddress) server.getLocalAddress();
    // rounded up: a timeout under 1 ms must not become 0, which Socket.connect reads as "no timeout"
    this.connectTimeoutMillis = (int) Math.clamp((b.connectTimeout.toNanos() + 999_999) / 1_000_000, 1, Integer.MAX_VALUE);
    this.connectAttempts = b.connectAttempts;
    this.idleTimeoutNanos = b.idleTimeout.toNanos();
    this.drainTimeoutNanos = b.drainTimeout.toNanos();
    this.maxConnections = b.maxConnections;
    this.pool = new BufferPool(b.bufferSize, b.maxBufferSize(), b.bufferPoolSize, b.bufferMemory(),
        "meshlet-l4 " + address);
    long seed = b.seed != null ? b.seed : ThreadLocalRandom.current().nextLong();
    this.journal = new Journal<>(b.journalCapacity, "meshlet-l4 " + address + " seed=" + Toxics.seedString(seed));
    this.toxics = new Toxics(this, seed, journal, b.toxics);
    b.toxics.forEach(toxics::add);
    String prefix = "meshlet-l4-" + address.getPort();
    ThreadFactory connectionThreads = Thread.ofVirtual().name(prefix + "-conn-", 0).factory();
    this.executor = Executors.newThreadPerTaskExecutor(task -> connectionThreads.newThread(tracked(task)));
    this.acceptor = Thread.ofVirtual().name(prefix + "-accept").unstarted(tracked(this::acceptLoop));
    this.reaper = idleTimeoutNanos > 0
        ? Thread.ofVirtual().name(prefix + "-idle").unstarted(tracked(this::reapLoop))
        : null;
  }

  private Runnable tracked(Runnable task) {
    return () -> {
      liveThreads.incrementAndGet();
      try {
        task.run();
      } finally {
        // A connection thread's executor counts it finished before this runs; close() waits for this.
        if (liveThreads.decrementAndGet() == 0) {
          drainLock.lock();
          try {
            threadsEnded.signalAll();
          } finally {
            drainLock.unlock();
          }
        }
      }
    };
  }

  /** Threads of this proxy still running (for leak checks in tests). */
  int liveThreads() {
    return liveThreads.get();
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
    return cluster;
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
    Cluster previous = cluster;
    cluster = next;
    return previous;
  }

  /** A snapshot of the proxy's counters. */
  public TcpProxyStats stats() {
    return new TcpProxyStats(
        accepted.sum(), active.get(), rejected.sum(), overflows.sum(), connectFailures.sum(), noBackend.sum(),
        idleTimeouts.sum(), resets.sum(), bytesUpstream.sum(), bytesDownstream.sum(), pool.lent(),
        pool.limitHits(), draining, cluster().stats());
  }

  /**
   * The toxics (network faults) applied to this proxy's connections; add and remove them while
   * traffic flows.
   */
  public Toxics toxics() {
    return toxics;
  }

  /**
   * What this proxy did, connection by connection, for tests to assert on; see {@link TcpEvent}. A
   * connection's {@link TcpEvent.Closed} entry is recorded as the proxy finishes with it, a moment
   * after the client sees the close: wait for it with {@link #awaitIdle(Duration)} or
   * {@link Journal#awaitCount}.
   */
  public Journal<TcpEvent> journal() {
    return journal;
  }

  /**
   * The seed of the random source every toxicity, jitter and slice size draws from; pass it to
   * {@link Builder#seed(long)} to replay a run.
   */
  public long seed() {
    return toxics.seed();
  }

  /**
   * Takes the proxy "down", like Toxiproxy's {@code enabled: false}: the listening socket is closed,
   * so new connections are refused ("connection refused"), and connections open now are closed.
   * Toxics stay installed. {@link #enable()} undoes it. For a proxy that accepts and then resets,
   * add {@code Toxic.resetPeer(Duration.ZERO)} instead.
   */
  public void disable() {
    listenLock.lock();
    try {
      if (!toxics.enabled()) {
        return;
      }
      toxics.setEnabled(false); // before the listener closes: a connection accepted meanwhile is refused
      closeListener();
    } finally {
      listenLock.unlock();
    }
  }

  /**
   * Brings the proxy back up after {@link #disable()}: it listens again on the same address and
   * forwards new connections.
   *
   * @throws IllegalStateException if the proxy is closed, or the address was taken while the proxy
   *     was down (then it stays disabled)
   */
  public void enable() {
    listenLock.lock();
    try {
      if (closed.get()) {
        throw new IllegalStateException(this + ": closed");
      }
      if (toxics.enabled()) {
        return;
      }
      ServerSocketChannel s;
      try {
        s = openListener(address);
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
      toxics.setEnabled(true);
      listenerChanged.signalAll();
    } finally {
      listenLock.unlock();
    }
  }

  /**
   * Closes the listening socket and waits (holding listenLock) until the acceptor has left accept():
   * only then does the OS close the socket, so the port is free and connections are refused when
   * this returns.
   */
  private void closeListener() {
    ServerSocketChannel old = server;
    closeQuietly(old);
    listenerChanged.signalAll(); // an acceptor waiting while disabled looks again
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    long left;
    try {
      // done when the acceptor left accept() on it, or ended, or enable() bound a new listener on the
      // same address meanwhile (the wait releases the lock), which proves the old one closed
      while (acceptorLeft != old && !acceptorDone && server == old && (left = deadline - System.nanoTime()) > 0) {
        listenerChanged.awaitNanos(left);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  private static void closeQuietly(ServerSocketChannel s) {
    try {
      s.close();
    } catch (IOException ignored) {
      // the port is released either way
    }
  }

  /** The connections open now (for tests in this package). */
  Set<Splice> openConnections() {
    return Set.copyOf(connections);
  }

  /** Whether the proxy forwards new connections (false after {@link #disable()}). */
  public boolean isEnabled() {
    return toxics.enabled();
  }

  /**
   * Waits until exactly {@code n} client connections are open.
   *
   * @throws AssertionError if that does not happen within {@code timeout}; the message gives the
   *     seed and the journal's last entries
   */
  public void awaitConnections(int n, Duration timeout) {
    await(n + " open connection(s)", timeout, () -> active.get() == n, () -> "open now: " + active.get());
  }

  /** Waits until no client connection is open; see {@link #awaitConnections(int, Duration)}. */
  public void awaitIdle(Duration timeout) {
    awaitConnections(0, timeout);
  }

  /** Waits until at least {@code n} client connections have been accepted since the proxy started. */
  public void awaitAccepted(long n, Duration timeout) {
    await(n + " accepted connection(s)", timeout, () -> accepted.sum() >= n, () -> "accepted so far: " + accepted.sum());
  }

  private void await(String what, Duration timeout, java.util.function.BooleanSupplier done,
      java.util.function.Supplier<String> now) {
    Objects.requireNonNull(timeout, "timeout");
    long deadline = System.nanoTime() + timeout.toNanos();
    while (!done.getAsBoolean()) {
      if (System.nanoTime() - deadline > 0) {
        throw new AssertionError(this + ": timed out after " + timeout + " waiting for " + what + "; "
            + now.get() + "; " + journal.describeTail(10));
      }
      LockSupport.parkNanos(1_000_000);
    }
  }

  long nextConnectionId() {
    return connectionIds.incrementAndGet();
  }

  /**
   * A listening channel of the address's own family: an IPv4 address (other than the wildcard, which
   * stays dual-stack) gets an IPv4 socket, so accepted connections skip the IPv4-mapped IPv6 path.
   */
  static ServerSocketChannel openListener(InetSocketAddress address) throws IOException {
    InetAddress ip = address.getAddress();
    return ip instanceof Inet4Address && !ip.isAnyLocalAddress()
        ? ServerSocketChannel.open(StandardProtocolFamily.INET)
        : ServerSocketChannel.open();
  }

  private void acceptLoop() {
    try {
      acceptConnections();
    } finally {
      listenLock.lock();
      try {
        acceptorDone = true;
        listenerChanged.signalAll(); // close() or disable() may be waiting for the acceptor
      } finally {
        listenLock.unlock();
      }
    }
  }

  private void acceptConnections() {
    while (!draining) {
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
        if (draining) {
          return;
        }
        LOG.log(System.Logger.Level.WARNING, "meshlet-l4 " + address + ": accept failed: " + e);
        try {
          Thread.sleep(10);
        } catch (InterruptedException ie) {
          return;
        }
        continue;
      }
      int now = active.incrementAndGet();
      accepted.increment(); // after active: a test that saw it accepted and then waits for idle waits for it
      if (now > maxConnections) {
        rejected.increment(); // before active drops: awaitIdle then sees it counted
        active.decrementAndGet();
        if (loggedMaxConnections.compareAndSet(false, true)) {
          LOG.log(System.Logger.Level.WARNING, "meshlet-l4 " + address + ": maxConnections ("
              + maxConnections + ") reached; excess connections are closed and counted in stats().rejected");
        }
        Splice.closeQuietly(client);
        continue;
      }
      Splice splice = new Splice(this, client);
      connections.add(splice);
      try {
        client.setOption(StandardSocketOptions.TCP_NODELAY, true);
        executor.execute(splice::run);
      } catch (IOException | RuntimeException e) { // closed meanwhile, or the executor is shut down
        splice.forceClose();
      }
    }
  }

  /** Waits while the proxy is disabled; true once a listener other than {@code old} is up, false once closed. */
  private boolean awaitListener(ServerSocketChannel old) {
    listenLock.lock();
    try {
      acceptorLeft = old;
      listenerChanged.signalAll(); // disable() waits for this
      while (server == old && !closed.get()) {
        listenerChanged.await();
      }
      return !closed.get();
    } catch (InterruptedException e) {
      return false;
    } finally {
      listenLock.unlock();
    }
  }

  private void reapLoop() {
    long tick = Math.clamp(idleTimeoutNanos / 4, TimeUnit.MILLISECONDS.toNanos(5), TimeUnit.SECONDS.toNanos(1));
    while (!closed.get()) {
      try {
        Thread.sleep(Duration.ofNanos(tick));
      } catch (InterruptedException e) {
        return;
      }
      long now = System.nanoTime();
      for (Splice s : connections) {
        long seen = s.activity;
        if (seen != s.seenActivity) {
          s.seenActivity = seen;
          s.seenSince = now;
        } else if (now - s.seenSince >= idleTimeoutNanos) {
          idleTimeouts.increment();
          s.idleClose();
        }
      }
    }
  }

  /**
   * Stops accepting at once, lets open connections finish for up to the drain timeout, then closes
   * what is left. When it returns the port can be bound again and none of the proxy's threads is
   * alive. Idempotent.
   */
  @Override
  public void close() {
    boolean first;
    listenLock.lock();
    try {
      first = closed.compareAndSet(false, true);
      if (first) {
        closeListener(); // also ends an acceptor waiting while disabled
      }
    } finally {
      listenLock.unlock();
    }
    if (!first) {
      awaitThreads();
      return;
    }
    draining = true; // only now: whoever sees draining can rely on the port being closed
    long deadline = System.nanoTime() + drainTimeoutNanos;
    drainLock.lock();
    try {
      long left;
      while (active.get() > 0 && (left = deadline - System.nanoTime()) > 0) {
        drained.awaitNanos(left);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } finally {
      drainLock.unlock();
    }
    for (Splice s : connections) {
      s.forceClose();
    }
    if (reaper != null) {
      reaper.interrupt();
    }
    executor.shutdownNow();
    awaitThreads();
    if (ownsCluster) {
      cluster.close();
    }
  }

  private void awaitThreads() {
    try {
      acceptor.join();
      if (reaper != null) {
        reaper.join();
      }
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
      boolean ended = executor.awaitTermination(10, TimeUnit.SECONDS);
      drainLock.lock();
      try {
        long left;
        while (liveThreads.get() > 0 && (left = deadline - System.nanoTime()) > 0) {
          threadsEnded.awaitNanos(left);
        }
        ended &= liveThreads.get() == 0;
      } finally {
        drainLock.unlock();
      }
      if (!ended) {
        LOG.log(System.Logger.Level.WARNING, "meshlet-l4 " + address + ": connection threads still running after close");
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  // --- called by Splice ---

  ExecutorService executor() {
    return executor;
  }

  BufferPool pool() {
    return pool;
  }

  int connectAttempts() {
    return connectAttempts;
  }

  int connectTimeoutMillis() {
    return connectTimeoutMillis;
  }

  void connectFailed(Endpoint e, Exception cause) {
    connectFailures.increment();
    LOG.log(System.Logger.Level.DEBUG, () -> "meshlet-l4 " + address + ": connect to " + e + " failed: " + cause);
  }

  void noBackend() {
    noBackend.increment();
  }

  void overflow() {
    overflows.increment();
  }

  void resetSeen() {
    resets.increment();
  }

  void transferred(@Nullable Endpoint e, boolean toUpstream, int n) {
    if (toUpstream) {
      bytesUpstream.add(n);
      if (e != null) {
        e.bytesOut(n);
      }
    } else {
      bytesDownstream.add(n);
      if (e != null) {
        e.bytesIn(n);
      }
    }
  }

  void ended(Splice s) {
    connections.remove(s);
    if (active.decrementAndGet() == 0 && draining) {
      drainLock.lock();
      try {
        drained.signalAll();
      } finally {
        drainLock.unlock();
      }
    }
  }

  @Override
  public String toString() {
    return "TcpProxy[" + address + " -> " + cluster.name() + ", seed=" + Toxics.seedString(toxics.seed()) + "]";
  }

  /**
   * Collects a {@link TcpProxy}'s settings; {@link #start()} validates them and binds the port.
   * Every setter rejects a nonsense value at once with a message that says what to fix.
   */
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
    private static final Duration MAX_DURATION = Duration.ofNanos(Long.MAX_VALUE);
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
      return limit != null ? limit : Math.min(256L * 1024 * 1024, Runtime.getRuntime().maxMemory() / 4);
    }

    /**
     * The seed for every random draw the toxics make (toxicity, jitter, slice sizes); default a random
     * one, reported by {@link TcpProxy#seed()} and in {@link TcpProxy#toString()}. The same seed and the
     * same order of connections give the same faults.
     */
    public Builder seed(long seed) {
      this.seed = seed;
      return this;
    }

    /**
     * How many entries the {@linkplain TcpProxy#journal() journal} keeps (the oldest are dropped and
     * counted beyond that); default 10,000; 0 keeps none.
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

    /** Listens on all interfaces at {@code port}; 0 picks a free port. Required (or {@link #listen(String, int)}). */
    public Builder listen(int port) {
      return listen("0.0.0.0", port);
    }

    /** Listens on {@code host} (a local address or name) at {@code port}; 0 picks a free port. */
    public Builder listen(String host, int port) {
      Objects.requireNonNull(host, "host");
      if (port < 0 || port > 65535) {
        throw new IllegalArgumentException("listen port: " + port + " (expected: 0-65535, 0 for any free port)");
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

    /** How long one attempt to connect to a backend may take, rounded up to whole milliseconds; default 5 s. */
    public Builder connectTimeout(Duration timeout) {
      this.connectTimeout = positive("connectTimeout", timeout);
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

    /** Closes a connection with no traffic in either direction for this long; default 1 h; zero disables. */
    public Builder idleTimeout(Duration timeout) {
      this.idleTimeout = notNegative("idleTimeout", timeout);
      return this;
    }

    /** How long {@link TcpProxy#close()} lets open connections finish before cutting them; default 5 s. */
    public Builder drainTimeout(Duration timeout) {
      this.drainTimeout = notNegative("drainTimeout", timeout);
      return this;
    }

    /**
     * The most client connections open at once; more are closed on accept and counted in
     * {@link TcpProxyStats#rejected()}. Default 10,000 (each costs two file descriptors).
     */
    public Builder maxConnections(int max) {
      if (max < 1) {
        throw new IllegalArgumentException("maxConnections: " + max + " (expected: >= 1)");
      }
      this.maxConnections = max;
      return this;
    }

    /**
     * The size of the direct buffer a direction borrows when a burst of bytes starts; default 64 KiB,
     * between 1 KiB and 16 MiB. An idle connection holds only {@value ReadBuffers#SMALL} bytes per
     * direction and no borrowed buffer.
     */
    public Builder bufferSize(int bytes) {
      if (bytes < 1024 || bytes > MAX_BUFFER) {
        throw new IllegalArgumentException("bufferSize: " + bytes + " (expected: 1024 to 16777216 bytes)");
      }
      this.bufferSize = bytes;
      return this;
    }

    /**
     * The largest buffer a streaming direction grows to: while its reads keep filling the buffer and
     * more bytes wait, it swaps it for one 4× larger, up to this size, so a bulk stream moves more
     * bytes per system call (see bench/RESULTS.md). Default 1 MiB, or {@link #bufferSize} if larger;
     * at least {@code bufferSize}, at most 16 MiB.
     */
    public Builder maxBufferSize(int bytes) {
      if (bytes < 1024 || bytes > MAX_BUFFER) {
        throw new IllegalArgumentException("maxBufferSize: " + bytes + " (expected: 1024 to 16777216 bytes)");
      }
      this.maxBufferSize = bytes;
      return this;
    }

    /**
     * The most bytes of direct buffers lent to connections at once. Past it a direction that wants a
     * (larger) buffer goes on with a smaller size that fits, or with its {@value ReadBuffers#SMALL}-byte
     * heap buffer: slower, never stalled. Each such read is counted in
     * {@link TcpProxyStats#bufferLimitHits()} and the first is logged (running out of the JVM's direct
     * memory is treated alike, and logged once too). Default a quarter of the
     * JVM's maximum heap (the default limit of direct memory is the maximum heap), at most 256 MiB; a
     * value below {@link #bufferSize}, such as 0, means never borrow (every read is at most
     * {@value ReadBuffers#SMALL} bytes).
     */
    public Builder bufferMemory(long bytes) {
      if (bytes < 0) {
        throw new IllegalArgumentException("bufferMemory: " + bytes + " (expected: >= 0 bytes)");
      }
      this.bufferMemory = bytes;
      return this;
    }

    /**
     * How many free buffers of {@link #bufferSize} the proxy keeps for reuse; default 256. Each larger
     * size keeps as many bytes in fewer buffers (at least one), so by default up to 16 MiB per size,
     * 48 MiB in all, stay allocated after bursts.
     */
    public Builder bufferPoolSize(int buffers) {
      if (buffers < 0) {
        throw new IllegalArgumentException("bufferPoolSize: " + buffers + " (expected: >= 0)");
      }
      this.bufferPoolSize = Math.max(1, buffers);
      return this;
    }

    /** The listen backlog: connections the OS queues before the proxy accepts them; default 1024. */
    public Builder backlog(int backlog) {
      if (backlog < 1) {
        throw new IllegalArgumentException("backlog: " + backlog + " (expected: >= 1)");
      }
      this.backlog = backlog;
      return this;
    }

    /**
     * Validates the settings, binds the port and starts accepting.
     *
     * @throws IllegalStateException if the settings do not make a proxy (no port, no backends, …)
     * @throws BindException naming the address, if it cannot be bound (in use, or not an address of this machine)
     * @throws IOException if the port cannot be opened for another reason
     */
    public TcpProxy start() throws IOException {
      boolean owns = cluster == null;
      if (port < 0) {
        throw new IllegalStateException("no listen port: call listen(port), e.g. listen(0) for any free port");
      }
      Cluster c = cluster;
      if (c != null && !backends.isEmpty()) {
        throw new IllegalStateException("both cluster(...) and backends(...) given: use one");
      }
      if (c != null && balancer != null) {
        throw new IllegalStateException(
            "balancer(...) applies to backends(...); cluster " + c.name() + " brings its own balancer");
      }
      Integer max = maxBufferSize;
      if (max != null && max < bufferSize) {
        throw new IllegalStateException("maxBufferSize " + max + " is smaller than bufferSize " + bufferSize
            + ": raise maxBufferSize or lower bufferSize");
      }
      if (c == null) {
        if (backends.isEmpty()) {
          throw new IllegalStateException("no backends: call backends(...) or cluster(...)");
        }
        c = Cluster.builder("l4-" + (port == 0 ? "ephemeral" : port)).backends(backends)
            .balancer(balancer != null ? balancer : Balancer.roundRobin()).build();
      }
      InetSocketAddress bindTo;
      try {
        bindTo = new InetSocketAddress(InetAddress.getByName(host), port);
      } catch (UnknownHostException e) {
        throw new IllegalArgumentException("listen host '" + host + "': unknown host", e);
      }
      ServerSocketChannel server = openListener(bindTo);
      try {
        server.setOption(StandardSocketOptions.SO_REUSEADDR, true);
        server.bind(bindTo, backlog);
      } catch (BindException e) {
        server.close();
        String why = String.valueOf(e.getMessage());
        BindException named = new BindException("listen " + host + ":" + port + ": "
            + (why.contains("in use") ? "address already in use" : "cannot bind") + " (" + why + ")");
        named.initCause(e);
        throw named;
      } catch (IOException | RuntimeException e) {
        server.close();
        throw e;
      }
      TcpProxy proxy;
      try {
        proxy = new TcpProxy(this, c, owns, server);
      } catch (IOException | RuntimeException e) { // the port must not stay bound by a proxy never returned
        server.close();
        throw e;
      }
      proxy.acceptor.start();
      if (proxy.reaper != null) {
        proxy.reaper.start();
      }
      LOG.log(System.Logger.Level.DEBUG, () -> "meshlet-l4 listening on " + proxy.address + " -> " + proxy.cluster);
      return proxy;
    }

    private static Duration positive(String what, Duration d) {
      Objects.requireNonNull(d, what);
      if (d.isNegative() || d.isZero()) {
        throw new IllegalArgumentException(what + ": " + d + " (expected: > 0)");
      }
      return notTooLong(what, d);
    }

    private static Duration notNegative(String what, Duration d) {
      Objects.requireNonNull(d, what);
      if (d.isNegative()) {
        throw new IllegalArgumentException(what + ": " + d + " (expected: >= 0)");
      }
      return notTooLong(what, d);
    }

    /** Durations are kept in nanoseconds: longer than a long holds (~292 years) is a mistake. */
    private static Duration notTooLong(String what, Duration d) {
      if (d.compareTo(MAX_DURATION) > 0) {
        throw new IllegalArgumentException(what + ": " + d + " (expected: at most 292 years)");
      }
      return d;
    }
  }
}
