package dev.meshlet.core.internal;

import dev.meshlet.core.Histogram;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.AtomicLongArray;

/**
 * A fixed-memory latency histogram written on the hot path: {@link #record(long)} takes no lock and
 * allocates nothing (a bucket search over {@link Histogram#BOUNDS} and two atomic adds); {@link
 * #snapshot()} copies it into a {@link Histogram} for readers.
 */
public final class LatencyRecorder {
  private static final long[] BOUNDS = boundsNanos();

  /** One slot per bucket, the last for times over the last bound, then the sum in nanoseconds. */
  private final AtomicLongArray slots = new AtomicLongArray(BOUNDS.length + 2);

  /** Counts one time of {@code nanos} (a negative time counts as 0). */
  public void record(long nanos) {
    long n = Math.max(0, nanos);
    int i = 0;
    // the bounds grow about 2.5x a step and most times fall in the first few buckets: a scan from
    // the bottom beats a binary search here
    while (i < BOUNDS.length && n > BOUNDS[i]) {
      i++;
    }
    slots.getAndIncrement(i);
    slots.getAndAdd(BOUNDS.length + 1, n);
  }

  /** A copy of what was recorded so far. */
  public Histogram snapshot() {
    Long[] counts = new Long[BOUNDS.length + 1];
    long total = 0;
    for (int i = 0; i < counts.length; i++) {
      long c = slots.get(i);
      counts[i] = c;
      total += c;
    }
    return new Histogram(
        Histogram.BOUNDS, List.of(counts), total, Duration.ofNanos(slots.get(BOUNDS.length + 1)));
  }

  private static long[] boundsNanos() {
    List<Duration> b = Histogram.BOUNDS;
    long[] nanos = new long[b.size()];
    for (int i = 0; i < nanos.length; i++) {
      nanos[i] = b.get(i).toNanos();
    }
    return nanos;
  }
}
