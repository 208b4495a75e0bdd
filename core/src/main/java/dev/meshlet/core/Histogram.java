package dev.meshlet.core;

import java.time.Duration;
import java.util.Collections;
import java.util.List;
import java.util.Objects;

/**
 * A snapshot of a latency histogram with fixed buckets: how many times fell at or under each upper
 * bound, as Prometheus and Envoy count them.
 *
 * <p>The bounds are Envoy's default histogram buckets, 0.5 ms to 1 hour ({@link #BOUNDS}); {@code
 * counts} has one more entry than {@code bounds}, for times over the last bound. Each count is for
 * its bucket alone (not cumulative); {@link #cumulative(int)} adds them up as Prometheus's {@code
 * _bucket{le=...}} series do.
 *
 * <p>Made by meshlet for users to read, not to build: the canonical constructor is not part of the
 * supported API; read it through the accessors.
 *
 * @param bounds the buckets' upper bounds (inclusive), ascending
 * @param counts the count of each bucket; the last is for times over the last bound
 * @param count how many times were recorded (the sum of {@code counts})
 * @param sum the total of the recorded times
 */
public record Histogram(List<Duration> bounds, List<Long> counts, long count, Duration sum) {

  /** Envoy's default bucket bounds, in milliseconds. */
  private static final double[] BOUNDS_MILLIS = {
    0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000,
    1800000, 3600000
  };

  /** The upper bounds every meshlet histogram uses: 0.5, 1, 5, 10, 25 ... 3,600,000 ms. */
  public static final List<Duration> BOUNDS = envoyBounds();

  /** Copies the lists and checks that {@code counts} has one entry per bucket. */
  public Histogram {
    bounds = List.copyOf(bounds);
    counts = List.copyOf(counts);
    Objects.requireNonNull(sum, "sum");
    if (counts.size() != bounds.size() + 1) {
      throw new IllegalArgumentException(
          "counts: "
              + counts.size()
              + " entries (expected: bounds + 1 = "
              + (bounds.size() + 1)
              + ")");
    }
  }

  /** A histogram with nothing recorded. */
  public static Histogram empty() {
    return new Histogram(BOUNDS, Collections.nCopies(BOUNDS.size() + 1, 0L), 0, Duration.ZERO);
  }

  /** The count of times at or under {@code bounds().get(i)}; {@code i == bounds().size()}: all. */
  public long cumulative(int i) {
    Objects.checkIndex(i, counts.size());
    long n = 0;
    for (int k = 0; k <= i; k++) {
      n += counts.get(k);
    }
    return n;
  }

  /**
   * This histogram and {@code other} added up, bucket by bucket.
   *
   * @throws IllegalArgumentException if their bounds differ
   */
  public Histogram plus(Histogram other) {
    if (!bounds.equals(other.bounds)) {
      throw new IllegalArgumentException(
          "plus: bounds differ (" + bounds + " vs " + other.bounds + ")");
    }
    Long[] sums = new Long[counts.size()];
    for (int i = 0; i < sums.length; i++) {
      sums[i] = counts.get(i) + other.counts.get(i);
    }
    return new Histogram(bounds, List.of(sums), count + other.count, sum.plus(other.sum));
  }

  private static List<Duration> envoyBounds() {
    Duration[] d = new Duration[BOUNDS_MILLIS.length];
    for (int i = 0; i < d.length; i++) {
      d[i] = Duration.ofNanos(Math.round(BOUNDS_MILLIS[i] * 1_000_000));
    }
    return List.of(d);
  }
}
