package dev.meshlet.core;

import dev.meshlet.core.internal.Mix;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Where a cluster's random balancers draw from: {@link ThreadLocalRandom} when unseeded, else the
 * shared {@link Mix} under the seed, numbered by the cluster's own counter, so the same seed and
 * the same sequence of picks give the same draws. One instance serves all of a cluster's pickers,
 * so the sequence runs on across rebuilds.
 */
final class Draws {
  static final Draws UNSEEDED = new Draws(false, 0);

  /** Keeps the balancers' stream apart from the toxics' and faults' under the same seed. */
  private static final long STREAM = 0x62616c616e636572L; // "balancer"

  private final boolean seeded;
  private final long seed;
  private final AtomicLong counter = new AtomicLong();

  private Draws(boolean seeded, long seed) {
    this.seeded = seeded;
    this.seed = seed;
  }

  static Draws seeded(long seed) {
    return new Draws(true, seed);
  }

  boolean isSeeded() {
    return seeded;
  }

  /** 64 random bits. */
  long next() {
    return seeded
        ? Mix.mix(seed, STREAM, counter.getAndIncrement())
        : ThreadLocalRandom.current().nextLong();
  }

  /** A number in [0, n) from the top 32 bits of {@code bits}. */
  static int high(long bits, int n) {
    return (int) (((bits >>> 32) * n) >>> 32);
  }

  /** A number in [0, n) from the low 32 bits of {@code bits}. */
  static int low(long bits, int n) {
    return (int) (((bits & 0xffffffffL) * n) >>> 32);
  }

  /** A number in [0, bound) from all of {@code bits}. */
  static long below(long bits, long bound) {
    return Math.unsignedMultiplyHigh(bits, bound);
  }

  @Override
  public String toString() {
    return seeded ? "seed=0x" + Long.toHexString(seed) + "L" : "unseeded";
  }
}
