package dev.meshlet.testkit;

import java.time.Duration;
import java.util.concurrent.locks.LockSupport;
import java.util.function.BooleanSupplier;
import java.util.function.Predicate;
import java.util.function.Supplier;

/**
 * Polls a condition until it holds or a deadline passes, so that tests never sleep to wait for one.
 *
 * <pre>{@code
 * Await.until("the backend saw the connection", () -> server.accepted() == 1);
 * }</pre>
 */
public final class Await {
  /** How long {@link #until(String, BooleanSupplier)} and {@link #value} wait: generous for CI. */
  public static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(20);

  private static final long POLL_NANOS = 2_000_000L;

  private Await() {}

  /**
   * Waits up to {@link #DEFAULT_TIMEOUT} for {@code condition}.
   *
   * @param what what is awaited, for the failure message
   * @param condition polled every 2 ms
   * @throws AssertionError when the deadline passes or the thread is interrupted
   */
  public static void until(String what, BooleanSupplier condition) {
    until(what, DEFAULT_TIMEOUT, condition);
  }

  /**
   * Waits up to {@code timeout} for {@code condition}.
   *
   * @param what what is awaited, for the failure message
   * @param timeout how long to wait at most
   * @param condition polled every 2 ms
   * @throws AssertionError when the deadline passes or the thread is interrupted
   */
  public static void until(String what, Duration timeout, BooleanSupplier condition) {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (!condition.getAsBoolean()) {
      if (System.nanoTime() - deadline > 0) {
        throw new AssertionError("timed out after " + timeout + " waiting for " + what);
      }
      pause(what);
    }
  }

  /**
   * Polls {@code value} until {@code ok} accepts it, for up to {@link #DEFAULT_TIMEOUT}.
   *
   * @param what what is awaited, for the failure message
   * @param value read every 2 ms
   * @param ok the condition on the value
   * @param <T> the value's type
   * @return the first value {@code ok} accepted
   * @throws AssertionError with the last value read when the deadline passes
   */
  public static <T> T value(String what, Supplier<T> value, Predicate<T> ok) {
    return value(what, DEFAULT_TIMEOUT, value, ok);
  }

  /**
   * Polls {@code value} until {@code ok} accepts it, for up to {@code timeout}.
   *
   * @param what what is awaited, for the failure message
   * @param timeout how long to wait at most
   * @param value read every 2 ms
   * @param ok the condition on the value
   * @param <T> the value's type
   * @return the first value {@code ok} accepted
   * @throws AssertionError with the last value read when the deadline passes
   */
  public static <T> T value(String what, Duration timeout, Supplier<T> value, Predicate<T> ok) {
    long deadline = System.nanoTime() + timeout.toNanos();
    T v;
    while (!ok.test(v = value.get())) {
      if (System.nanoTime() - deadline > 0) {
        throw new AssertionError(
            "timed out after " + timeout + " waiting for " + what + "; last value: " + v);
      }
      pause(what);
    }
    return v;
  }

  private static void pause(String what) {
    LockSupport.parkNanos(POLL_NANOS);
    if (Thread.interrupted()) {
      Thread.currentThread().interrupt();
      throw new AssertionError("interrupted while waiting for " + what);
    }
  }
}
