package dev.meshlet.l7;

import dev.meshlet.core.Endpoint;
import dev.meshlet.core.Journal;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Supplier;
import org.jspecify.annotations.Nullable;

/**
 * Every live counter of the proxy: the total, one per route name, one per endpoint, and the retry
 * counters; and the wait for no request in flight that a draining close does.
 */
final class ProxyCounters {
  final Counters total = new Counters();
  final RetryStats retries = new RetryStats();

  /** Access log lines dropped because the writer's queue was full. */
  final AtomicLong accessLogDropped = new AtomicLong();

  /** The listener's client connections: a bean of its connector. */
  final ConnectionCount connections = new ConnectionCount();

  private final ConcurrentHashMap<String, Counters> routes = new ConcurrentHashMap<>();
  private final ConcurrentHashMap<Endpoint, Counters> backends = new ConcurrentHashMap<>();
  private final ReentrantLock drainLock = new ReentrantLock();
  private final Condition drained = drainLock.newCondition();

  /** Whether {@link #timed} records (HttpProxyBuilder.latencyHistograms). */
  private final boolean histograms;

  ProxyCounters(RouteTable table, boolean histograms) {
    this.histograms = histograms;
    for (HttpRoute r : table.routes()) {
      routes.put(r.name(), new Counters());
    }
    if (table.defaultRoute() != null) {
      routes.put(table.defaultRoute().name(), new Counters());
    }
  }

  /** Counts a request routed by {@code route}; returns the route's counters, to end it with. */
  Counters beginRoute(HttpRoute route) {
    Counters c = routes.computeIfAbsent(route.name(), k -> new Counters());
    c.begin();
    return c;
  }

  Counters backend(Endpoint endpoint) {
    Counters c = backends.get(endpoint);
    return c != null ? c : backends.computeIfAbsent(endpoint, k -> new Counters());
  }

  Map<String, HttpProxyStats.Counts> routeSnapshots() {
    Map<String, HttpProxyStats.Counts> m = new HashMap<>();
    routes.forEach((name, c) -> m.put(name, c.snapshot()));
    return m;
  }

  /** Per backend display name: the endpoints of one backend (live updates make new ones) summed. */
  Map<String, HttpProxyStats.Counts> backendSnapshots() {
    Map<String, HttpProxyStats.Counts> m = new HashMap<>();
    backends.forEach((e, c) -> m.merge(e.backend().displayName(), c.snapshot(), Counters::sum));
    return m;
  }

  /**
   * Counts a request's outcome in the total and its route's counters ({@code route} null when it
   * was not routed): its error kind, its bytes, its status for the route. The total's status and
   * in-flight count come after the journal entry ({@link Counters#counted}, {@link #ended}).
   */
  void requestEnded(
      @Nullable Counters route,
      int status,
      HttpProxyStats.@Nullable ErrorKind kind,
      long in,
      long out) {
    if (kind != null) {
      total.error(kind);
      if (route != null) {
        route.error(kind);
      }
    }
    total.bytesIn(in);
    total.bytesOut(out);
    if (route != null) {
      route.bytesIn(in);
      route.bytesOut(out);
      route.end(status);
    }
  }

  /**
   * Records a request's latencies in the total, its route's and its backend's histograms; {@code
   * upstreamNanos} is negative when no response head came from a backend.
   */
  void timed(
      @Nullable Counters route, @Nullable Endpoint endpoint, long upstreamNanos, long totalNanos) {
    if (!histograms) {
      return;
    }
    total.timed(upstreamNanos, totalNanos);
    if (route != null) {
      route.timed(upstreamNanos, totalNanos);
    }
    if (endpoint != null) {
      backend(endpoint).timed(upstreamNanos, totalNanos);
    }
  }

  /** Counts {@code n} faults applied to a request routed by {@code route}. */
  void faultsApplied(String route, int n) {
    total.faultsApplied(n);
    Counters c = routes.get(route);
    if (c != null) {
      c.faultsApplied(n);
    }
  }

  /** Called when a request ends with {@code inFlight} left: wakes a draining close. */
  void ended(long inFlight) {
    if (inFlight == 0) {
      drainLock.lock();
      try {
        drained.signalAll();
      } finally {
        drainLock.unlock();
      }
    }
  }

  /** Waits up to {@code millis} for in-flight requests to finish; returns whether they did. */
  boolean awaitDrained(long millis) throws InterruptedException {
    long deadline = System.nanoTime() + millis * 1_000_000L;
    drainLock.lock();
    try {
      while (total.inFlight() > 0) {
        long left = deadline - System.nanoTime();
        if (left <= 0) {
          return false;
        }
        drained.awaitNanos(Math.min(left, 50_000_000L));
      }
      return true;
    } finally {
      drainLock.unlock();
    }
  }

  /**
   * Waits until no request is in flight.
   *
   * @throws AssertionError naming {@code proxy}, the count and the journal's tail on timeout
   */
  void awaitIdle(Duration timeout, Supplier<String> proxy, Journal<HttpEvent> journal) {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (total.inFlight() > 0) {
      if (System.nanoTime() - deadline > 0) {
        throw new AssertionError(
            proxy.get()
                + "timed out after "
                + timeout
                + " waiting for no request in flight; "
                + total.inFlight()
                + " in flight; "
                + journal.describeTail(10));
      }
      LockSupport.parkNanos(1_000_000);
    }
  }

  /** A snapshot of every counter, with the routes' clusters and the body budget. */
  HttpProxyStats stats(boolean closed, RouteTable routes, BodyBudget budget) {
    return new HttpProxyStats(
        total.snapshot(),
        routeSnapshots(),
        backendSnapshots(),
        retries.snapshot(),
        closed,
        routes.clusterStats(),
        budget.snapshot(),
        accessLogDropped.get(),
        connections.snapshot());
  }
}
