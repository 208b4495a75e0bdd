package dev.meshlet.core.internal;

import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;

/**
 * A counting admission limit of a cluster: lets at most {@code max} in at once, refuses the rest at
 * once, counts the refusals and logs the first one. Proxies take places through {@link Admission},
 * whose permits give them back.
 */
public final class Gate {
  private static final System.Logger LOG = System.getLogger("dev.meshlet.core.Cluster");
  private final AtomicInteger inside = new AtomicInteger();
  private final LongAdder refused = new LongAdder();
  private final AtomicBoolean logged = new AtomicBoolean();
  private final String warning;
  private final long max;

  /**
   * A gate that admits at most {@code max} at once; {@code warning} is logged once, the first time
   * it refuses.
   */
  public Gate(String warning, long max) {
    this.warning = warning;
    this.max = max;
  }

  /** Admits one more unless {@code max} are inside; pair a true answer with {@link #exit()}. */
  public boolean tryEnter() {
    return tryEnter(max);
  }

  /**
   * Admits one more unless this gate holds {@code percent} of what {@code base} holds now, or
   * {@code min}, whichever is more (a retry budget as a share of the requests in flight).
   */
  public boolean tryEnterShareOf(Gate base, int percent, int min) {
    return tryEnter(Math.min(max, Math.max(min, (long) base.inside() * percent / 100)));
  }

  private boolean tryEnter(long limit) {
    while (true) {
      int now = inside.get();
      if (now >= limit) {
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

  /** Gives back a place a true {@code tryEnter…} answer took. */
  public void exit() {
    inside.decrementAndGet();
  }

  /** How many are inside now. */
  public int inside() {
    return inside.get();
  }

  /** How many were refused so far. */
  public long refused() {
    return refused.sum();
  }
}
