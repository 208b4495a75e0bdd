package dev.meshlet.core.internal;

import java.time.Duration;
import java.util.Objects;

/**
 * The argument checks the proxies' builders share, so a bad duration reads the same at L4 and L7:
 * {@code "connectTimeout: PT-1S (expected: > 0)"}.
 */
public final class Checks {
  /** Durations are kept in nanoseconds: longer than a long holds (~292 years) is a mistake. */
  private static final Duration MAX = Duration.ofNanos(Long.MAX_VALUE);

  private Checks() {}

  /**
   * {@code d} when it is longer than zero and fits in a long of nanoseconds.
   *
   * @throws IllegalArgumentException naming {@code what} otherwise
   */
  public static Duration positive(String what, Duration d) {
    Objects.requireNonNull(d, what);
    if (d.isNegative() || d.isZero()) {
      throw new IllegalArgumentException(what + ": " + d + " (expected: > 0)");
    }
    return fits(what, d);
  }

  /**
   * {@code d} when it is zero or longer and fits in a long of nanoseconds.
   *
   * @throws IllegalArgumentException naming {@code what} otherwise
   */
  public static Duration notNegative(String what, Duration d) {
    Objects.requireNonNull(d, what);
    if (d.isNegative()) {
      throw new IllegalArgumentException(what + ": " + d + " (expected: >= 0)");
    }
    return fits(what, d);
  }

  private static Duration fits(String what, Duration d) {
    if (d.compareTo(MAX) > 0) {
      throw new IllegalArgumentException(what + ": " + d + " (expected: at most 292 years)");
    }
    return d;
  }
}
