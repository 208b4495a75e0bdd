package dev.meshlet.l7;

import dev.meshlet.core.internal.Mix;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The live fault state of one route in one {@link RouteTable}: per fault, how many requests it was
 * drawn for and its draw key, and when the table began (for schedule windows). {@link HttpRoute}
 * stays an immutable value; a new table (a live update, or {@link HttpProxy#resetRoutes()}) starts
 * this state over, so schedules count requests from 1 again and the draws replay.
 */
final class RouteFaults {
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
    return Mix.unit(Mix.mix(seed, keys[i], ordinal)) < f.toxicity();
  }
}
