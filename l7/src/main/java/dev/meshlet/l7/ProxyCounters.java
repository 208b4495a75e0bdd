package dev.meshlet.l7;

import dev.meshlet.core.Endpoint;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Every live counter of the proxy: the total, one per route name, one per endpoint, and the retry
 * counters; and the wait for no request in flight that a draining close does.
 */
final class ProxyCounters {
  final Counters total = new Counters();
  final RetryStats retries = new RetryStats();
  private final ConcurrentHashMap<String, Counters> routes = new ConcurrentHashMap<>();
  private final ConcurrentHashMap<Endpoint, Counters> backends = new ConcurrentHashMap<>();
  private final ReentrantLock drainLock = new ReentrantLock();
  private final Condition drained = drainLock.newCondition();

  ProxyCounters(RouteTable table) {
    for (HttpRoute r : table.routes()) {
      routes.put(r.name(), new Counters());
    }
    if (table.defaultRoute() != null) {
      routes.put(table.defaultRoute().name(), new Counters());
    }
  }

  Counters route(HttpRoute route) {
    return routes.computeIfAbsent(route.name(), k -> new Counters());
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
}
