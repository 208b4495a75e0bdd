package dev.meshlet.l7;

import java.time.Duration;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The live fault state of one route in one {@link RouteTable}: per fault, how many requests it was
 * drawn for and its draw key, and when the table began (for schedule windows). {@link HttpRoute}
 * stays an immutable value; a new table (a live update, or {@link HttpProxy#resetRoutes()}) starts
 * this state over, so schedules count requests from 1 again and the draws replay.
 */
final class RouteFaults {
  private static final long GOLDEN = 0x9E3779B97F4A7C15L;

  final HttpRoute route;
  final HttpFault[] faults;
  private final AtomicLong[] candidates;
  private final long[] keys;
  private final long startNanos = System.nanoTime();

  RouteFaults(HttpRoute route) {
    this.route = route;
    this.faults = route.faultArray();
    this.candidates = new AtomicLong[faults.length];
    this.keys = new long[faults.length];
    for (int i = 0; i < faults.length; i++) {
      candidates[i] = new AtomicLong();
      // keyed by route name and position: the same routes and seed give the same draws in any table
      keys[i] = (route.name() + "#" + i).hashCode();
    }
  }

  /**
   * Counts one more candidate request for fault {@code i} (its header, if any, present) and says
   * whether the fault applies to it: its schedule admits the request and the seeded draw falls
   * under its toxicity.
   */
  boolean applies(int i, long seed) {
    long ordinal = candidates[i].incrementAndGet();
    HttpFault f = faults[i];
    if (!f.schedule().admits(ordinal, Duration.ofNanos(System.nanoTime() - startNanos))) {
      return false;
    }
    return unit(mix(mix(seed ^ mix(keys[i] + GOLDEN)) + ordinal * GOLDEN)) < f.toxicity();
  }

  private static long mix(long z) {
    z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
    z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
    return z ^ (z >>> 31);
  }

  private static double unit(long x) {
    return (x >>> 11) * 0x1.0p-53;
  }
}
