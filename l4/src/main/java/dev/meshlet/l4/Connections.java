package dev.meshlet.l4;

import dev.meshlet.core.Cluster;
import dev.meshlet.core.Endpoint;
import dev.meshlet.core.internal.JournalWriter;
import dev.meshlet.core.internal.Seeds;
import java.nio.channels.SocketChannel;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import org.jspecify.annotations.Nullable;

/**
 * The proxy's live connections, the one registry of them: admits what the listener accepts (up to
 * {@code maxConnections}), times out idle ones, drains them on close, and is the {@link
 * ConnectionContext} each connection sees its proxy through.
 */
final class Connections implements ConnectionContext, SpliceRegistry {
  /**
   * Classes a connection may first need on a failure path, loaded with the proxy: loading a class
   * from a directory or a jar not yet open takes a file descriptor, and a class that failed to load
   * for want of one stays unusable from the class that needed it (the JVM caches the failure).
   */
  private static final List<Class<?>> PRELOADED =
      List.of(
          Cause.class,
          Counters.class,
          Log.class,
          Connection.class,
          Preface.class,
          Direction.class,
          ReadBuffers.class,
          DelayLine.class,
          ToxicPath.class,
          ActiveToxic.class,
          TcpEvent.Opened.class,
          TcpEvent.Connected.class,
          TcpEvent.Refused.class,
          TcpEvent.ToxicApplied.class,
          TcpEvent.Closed.class,
          TcpEvent.BackendTlsFailed.class);

  static {
    Cause.values(); // and initialised: its constants are used where nothing else may be loaded
  }

  private final String name;
  private final Set<Connection> live = ConcurrentHashMap.newKeySet();

  /** Connections counted open: admitted and not yet ended (the registry may lag by a moment). */
  private final AtomicInteger active = new AtomicInteger();

  private final AtomicLong ids = new AtomicLong();
  private final Counters counters;
  private final Threads threads;
  private final BufferPool pool;
  private final JournalWriter<TcpEvent> journal;
  private final Toxics toxics;
  private volatile Cluster cluster;
  private final int maxConnections;
  private final int connectAttempts;
  private final int connectTimeoutMillis;
  private final long idleTimeoutNanos;
  private final Opening opening;
  private final TlsSides tls;
  private final AtomicBoolean loggedMaxConnections = new AtomicBoolean();

  /**
   * Endpoints whose unresolved host was logged: an endpoint resolves once, so once is its whole
   * episode.
   */
  private final Set<Endpoint> loggedUnresolved = ConcurrentHashMap.newKeySet();

  private final ReentrantLock drainLock = new ReentrantLock();
  private final Condition drained = drainLock.newCondition();
  private volatile boolean draining;
  private final @Nullable Thread reaper;

  Connections(
      String name,
      Cluster cluster,
      Counters counters,
      Threads threads,
      BufferPool pool,
      JournalWriter<TcpEvent> journal,
      long seed,
      Map<String, Toxic> toxics,
      int maxConnections,
      int connectAttempts,
      int connectTimeoutMillis,
      long idleTimeoutNanos,
      Opening opening,
      TlsSides tls) {
    this.name = name;
    this.cluster = cluster;
    this.counters = counters;
    this.threads = threads;
    this.pool = pool;
    this.journal = journal;
    this.maxConnections = maxConnections;
    this.connectAttempts = connectAttempts;
    this.connectTimeoutMillis = connectTimeoutMillis;
    this.idleTimeoutNanos = idleTimeoutNanos;
    this.opening = opening;
    this.tls = tls;
    this.toxics = new Toxics(this, seed, journal, toxics);
    Seeds.offer(cluster, seed); // so the proxy's seed replays the cluster's random picks too
    SniRoutes sni = opening.sni();
    if (sni != null) {
      for (SniRoutes.Route r : sni.routes()) {
        Seeds.offer(r.cluster(), seed);
      }
    }
    this.reaper =
        idleTimeoutNanos > 0 || opening.timed() ? threads.named("idle", this::reapLoop) : null;
  }

  void start() {
    if (reaper != null) {
      reaper.start();
    }
  }

  Toxics toxics() {
    return toxics;
  }

  Cluster cluster() {
    return cluster;
  }

  Cluster replaceCluster(Cluster next) {
    Seeds.offer(next, toxics.seed()); // before any connection picks from it
    Cluster previous = cluster;
    cluster = next;
    return previous;
  }

  int active() {
    return active.get();
  }

  boolean draining() {
    return draining;
  }

  /** A snapshot of the proxy's counters, its connections and its buffers. */
  TcpProxyStats stats() {
    Counters c = counters;
    return new TcpProxyStats(
        c.accepted.sum(),
        active(),
        c.rejected.sum(),
        c.overflows.sum(),
        c.connectFailures.sum(),
        c.noBackend.sum(),
        c.idleTimeouts.sum(),
        c.resets.sum(),
        c.bytesUpstream.sum(),
        c.bytesDownstream.sum(),
        pool.lent(),
        pool.limitHits(),
        c.acceptFailures.sum(),
        c.noSocket.sum(),
        c.unresolved.sum(),
        draining,
        cluster.stats(),
        c.connectTime.snapshot(),
        c.duration.snapshot(),
        c.toxicsApplied.sum(),
        c.proxyHeaderRejected.sum(),
        new TcpProxyStats.Hellos(
            c.helloRouted.sum(),
            c.helloDefaulted.sum(),
            c.helloNotTls.sum(),
            c.helloNoServerName.sum(),
            c.helloInvalid.sum(),
            c.helloTooLarge.sum(),
            c.helloTimeouts.sum()),
        c.tlsFailures.sum(),
        c.backendTlsFailures.sum());
  }

  /**
   * Takes a connection the listener accepted: closes it at once past {@code maxConnections}, else
   * registers it, lets the toxics draw for it and starts its thread. {@code refuse}: the proxy is
   * disabled, so it is reset at once. Called on the acceptor thread, in accept order.
   */
  void admit(SocketChannel client, boolean refuse) {
    int now = active.incrementAndGet();
    counters.accepted
        .increment(); // after active: a test that saw it accepted and then waits for idle waits for
    // it
    if (now > maxConnections) {
      counters.rejected.increment(); // before active drops: awaitIdle then sees it counted
      active.decrementAndGet();
      if (loggedMaxConnections.compareAndSet(false, true)) {
        Log.warn(
            name
                + ": maxConnections ("
                + maxConnections
                + ") reached; excess connections are closed and counted in stats().rejected");
      }
      Connection.closeQuietly(client);
      return;
    }
    Connection c = new Connection(this, cluster, client, ids.incrementAndGet(), refuse);
    live.add(c);
    toxics.attach(c);
    try {
      threads.execute(c::run);
    } catch (RuntimeException e) { // the proxy is closing
      c.end(Cause.PROXY_CLOSED, Cause.PROXY_CLOSED.label(), true);
    }
  }

  @Override
  public void ended(Connection c) {
    live.remove(c);
    toxics.detach(c);
    if (active.decrementAndGet() == 0 && draining) {
      drainLock.lock();
      try {
        drained.signalAll();
      } finally {
        drainLock.unlock();
      }
    }
  }

  /**
   * The open connections, oldest first: the order the toxics visit them in, whatever the
   * registry's.
   */
  @Override
  public List<Connection> inAcceptOrder() {
    List<Connection> open = new ArrayList<>(live);
    open.sort(Comparator.comparingLong(c -> c.id));
    return open;
  }

  /** The open connections now (for tests in this package). */
  Set<Connection> open() {
    return Set.copyOf(live);
  }

  /** Ends every open connection for {@code cause}. */
  void endAll(Cause cause, boolean reset) {
    for (Connection c : live) {
      c.end(cause, cause.label(), reset);
    }
  }

  /**
   * Lets open connections finish for up to {@code timeoutNanos}, then resets what is left and stops
   * the idle reaper. The listener is closed already.
   */
  void drain(long timeoutNanos) {
    draining = true;
    long deadline = System.nanoTime() + timeoutNanos;
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
    endAll(Cause.PROXY_CLOSED, true);
    if (reaper != null) {
      reaper.interrupt();
    }
  }

  private void reapLoop() {
    long quarter = Long.MAX_VALUE;
    if (idleTimeoutNanos > 0) {
      quarter = idleTimeoutNanos / 4;
    }
    if (opening.timed()) { // an opening ends at most a quarter of its timeout late
      quarter = Math.min(quarter, opening.timeoutNanos() / 4);
    }
    long tick = Math.clamp(quarter, TimeUnit.MILLISECONDS.toNanos(5), TimeUnit.SECONDS.toNanos(1));
    while (!draining) {
      try {
        Thread.sleep(Duration.ofNanos(tick));
      } catch (InterruptedException e) {
        return;
      }
      long now = System.nanoTime();
      for (Connection c : live) {
        long deadline = c.openingDeadline;
        if (deadline != 0 && now - deadline >= 0) {
          c.openingTimedOut();
          continue;
        }
        if (idleTimeoutNanos <= 0) {
          continue;
        }
        long seen = c.activity;
        if (seen != c.seenActivity) {
          c.seenActivity = seen;
          c.seenSince = now;
        } else if (now - c.seenSince >= idleTimeoutNanos) {
          c.end(Cause.IDLE_TIMEOUT, Cause.IDLE_TIMEOUT.label(), false);
        }
      }
    }
  }

  // --- what a connection sees of its proxy ---

  @Override
  public BufferPool pool() {
    return pool;
  }

  @Override
  public Counters counters() {
    return counters;
  }

  @Override
  public JournalWriter<TcpEvent> journal() {
    return journal;
  }

  @Override
  public void unresolved(Endpoint endpoint) {
    counters.unresolved.increment();
    if (loggedUnresolved.add(endpoint)) {
      Log.warn(
          name // already "meshlet-l4 ADDRESS"
              + ": backend "
              + endpoint.backend().displayName()
              + ": host '"
              + endpoint.backend().host()
              + "' did not resolve when it joined cluster "
              + cluster.name()
              + "; connections to it fail until it is added again");
    }
  }

  @Override
  public Opening opening() {
    return opening;
  }

  @Override
  public TlsSides tls() {
    return tls;
  }

  @Override
  public int handshakeTimeoutMillis() {
    return (int)
        Math.clamp(TimeUnit.NANOSECONDS.toMillis(opening.timeoutNanos()), 1, Integer.MAX_VALUE);
  }

  @Override
  public int connectAttempts() {
    return connectAttempts;
  }

  @Override
  public int connectTimeoutMillis() {
    return connectTimeoutMillis;
  }

  @Override
  public ExecutorService executor() {
    return threads.executor();
  }

  @Override
  public void execute(Runnable task) {
    threads.execute(task);
  }
}
