package dev.meshlet.core.internal;

/**
 * The one seeded random mix of meshlet (SplitMix64's finaliser): every draw is a pure function of a
 * seed and counters, so L4 toxics, L7 faults and the balancers replay from a seed whatever the
 * threads' timing.
 */
public final class Mix {
  private static final long GOLDEN = 0x9E3779B97F4A7C15L;

  private Mix() {}

  /** Spreads any 64-bit value over all 64 bits (SplitMix64's finaliser). */
  public static long mix(long z) {
    z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
    z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
    return z ^ (z >>> 31);
  }

  /**
   * The draw number {@code b} of stream {@code a} under {@code seed} (e.g. a toxic's name hash and
   * a connection's ordinal).
   */
  public static long mix(long seed, long a, long b) {
    return mix(mix(seed ^ mix(a + GOLDEN)) + b * GOLDEN);
  }

  /** A double uniformly in [0, 1) from the top 53 bits of {@code x}. */
  public static double unit(long x) {
    return (x >>> 11) * 0x1.0p-53;
  }
}
