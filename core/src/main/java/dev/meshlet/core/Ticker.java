package dev.meshlet.core;

/**
 * A source of monotonic nanoseconds, as {@link System#nanoTime()}. Clusters read it for ejection
 * and slow-start windows, so tests can drive those by hand instead of waiting.
 */
@FunctionalInterface
public interface Ticker {
  /** The current reading, in nanoseconds, with an arbitrary origin. */
  long nanoTime();

  /** The system's monotonic clock. */
  static Ticker system() {
    return System::nanoTime;
  }
}
