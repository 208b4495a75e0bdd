package dev.meshlet.core;

import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;

/**
 * A counting admission limit: lets at most a given number in at once, refuses the rest at once,
 * counts the refusals and logs the first one.
 */
final class Gate {
  private static final System.Logger LOG = System.getLogger(Cluster.class.getName());
  private final AtomicInteger inside = new AtomicInteger();
  private final LongAdder refused = new LongAdder();
  private final AtomicBoolean logged = new AtomicBoolean();
  private final String warning;

  /** {@code warning} is logged once, the first time the gate refuses. */
  Gate(String warning) {
    this.warning = warning;
  }

  /** Admits one more unless {@code max} are inside; pair a true answer with {@link #exit()}. */
  boolean tryEnter(long max) {
    while (true) {
      int now = inside.get();
      if (now >= max) {
        refused.increment();
        if (logged.compareAndSet(false, true)) {
          LOG.log(System.Logger.Level.WARNING, warning);
        }
        return false;
      }
      if (inside.compareAndSet(now, now + 1)) {
        return true;
      }
    }
  }

  void exit() {
    inside.decrementAndGet();
  }

  int inside() {
    return inside.get();
  }

  long refused() {
    return refused.sum();
  }
}
