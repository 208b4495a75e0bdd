package dev.meshlet.l7;

import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

/** Polling with a deadline: tests never sleep to wait for a condition. */
final class Await {
  private Await() {}

  static void until(String what, BooleanSupplier condition) {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
    while (!condition.getAsBoolean()) {
      if (System.nanoTime() > deadline) {
        throw new AssertionError("timed out waiting for " + what);
      }
      try {
        Thread.sleep(5); // the polling interval
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new AssertionError(e);
      }
    }
  }

  /**
   * Waits until the proxy has no request in flight. A client can read a response before the proxy
   * finished its bookkeeping for it (counters update when the last write completed); after this,
   * every counter is final.
   */
  static HttpProxy idle(HttpProxy proxy) {
    until("no request in flight", () -> proxy.stats().total().inFlight() == 0);
    return proxy;
  }
}
