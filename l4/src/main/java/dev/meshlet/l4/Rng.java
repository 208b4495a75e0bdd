package dev.meshlet.l4;

/**
 * Stateless mixing (SplitMix64's finaliser) so that every draw depends only on the proxy's seed, the
 * toxic's name and the connection's ordinal: replayable whatever the threads' timing.
 */
final class Rng {
  private static final long GOLDEN = 0x9E3779B97F4A7C15L;

  private Rng() {}

  static long mix(long z) {
    z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
    z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
    return z ^ (z >>> 31);
  }

  static long mix(long seed, long a, long b) {
    return mix(mix(seed ^ mix(a + GOLDEN)) + b * GOLDEN);
  }

  /** A double uniformly in [0, 1). */
  static double unit(long x) {
    return (x >>> 11) * 0x1.0p-53;
  }
}
