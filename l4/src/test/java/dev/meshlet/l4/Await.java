package dev.meshlet.l4;

import java.time.Duration;
import java.util.concurrent.locks.LockSupport;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;

/** Polls a condition until it holds or a deadline passes. */
final class Await {
  private Await() {}

  static void until(String what, BooleanSupplier condition) {
    until(what, Duration.ofSeconds(10), condition);
  }

  static void until(String what, Duration timeout, BooleanSupplier condition) {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (!condition.getAsBoolean()) {
      if (System.nanoTime() - deadline > 0) {
        throw new AssertionError("timed out after " + timeout + " waiting for " + what);
      }
      LockSupport.parkNanos(2_000_000);
    }
  }

  static <T> T value(String what, Supplier<T> value, java.util.function.Predicate<T> ok) {
    long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
    T v;
    while (!ok.test(v = value.get())) {
      if (System.nanoTime() - deadline > 0) {
        throw new AssertionError("timed out waiting for " + what + "; last value: " + v);
      }
      LockSupport.parkNanos(2_000_000);
    }
    return v;
  }

  /** Names of live threads that start with {@code prefix}. */
  static java.util.List<String> liveThreads(String prefix) {
    return Thread.getAllStackTraces().keySet().stream()
        .filter(Thread::isAlive)
        .map(Thread::getName)
        .filter(n -> n.startsWith(prefix))
        .toList();
  }
}
