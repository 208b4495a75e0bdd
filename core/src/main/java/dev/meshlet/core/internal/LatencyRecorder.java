package dev.meshlet.core.internal;

import dev.meshlet.core.Histogram;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.LongAdder;

/**
 * A fixed-memory latency histogram written on the hot path: {@link #record(long)} takes no lock and
 * allocates nothing once warm (a bucket search over {@link Histogram#BOUNDS} and two {@link
 * LongAdder} adds, which stripe under contention up to one cell per CPU instead of bouncing one
 * cache line between threads); {@link #snapshot()} copies it into a {@link Histogram} for readers.
 */
public final class LatencyRecorder {
  private static final long[] BOUNDS = boundsNanos();

  /** One count per bucket, the last for times over the last bound. */
  private final LongAdder[] counts = new LongAdder[BOUNDS.length + 1];

  private final LongAdder sumNanos = new LongAdder();

  /** An empty histogram. */
  public LatencyRecorder() {
    for (int i = 0; i < counts.length; i++) {
      counts[i] = new LongAdder();
    }
  }

  /** Counts one time of {@code nanos} (a negative time counts as 0). */
  public void record(long nanos) {
    long n = Math.max(0, nanos);
    int i = 0;
    // the bounds grow about 2.5x a step and most times fall in the first few buckets: a scan from
    // the bottom beats a binary search here
    while (i < BOUNDS.length && n > BOUNDS[i]) {
      i++;
    }
    counts[i].increment();
    sumNanos.add(n);
  }

  /** A copy of what was recorded so far. */
  public Histogram snapshot() {
    Long[] c = new Long[counts.length];
    long total = 0;
    for (int i = 0; i < c.length; i++) {
      long n = counts[i].sum();
      c[i] = n;
      total += n;
    }
    return new Histogram(Histogram.BOUNDS, List.of(c), total, Duration.ofNanos(sumNanos.sum()));
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
