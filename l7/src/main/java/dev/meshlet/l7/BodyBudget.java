package dev.meshlet.l7;

import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The bytes all buffered request bodies of a proxy hold together, capped ({@link
 * HttpProxyBuilder#requestBufferBudget(long)}): a buffer takes bytes as they arrive and gives them
 * back when its request ends. A body refused bytes streams instead; that fallback is counted, and
 * logged once per episode (until the bytes held fall to half the budget again).
 */
final class BodyBudget {
  private static final Logger LOG = LoggerFactory.getLogger(BodyBudget.class);

  private final long capacity;
  private final AtomicLong held = new AtomicLong();
  private final LongAdder fallbacks = new LongAdder();
  private volatile boolean spent;

  BodyBudget(long capacity) {
    this.capacity = capacity;
  }

  /** The most bytes all buffers may hold together; 0 when nothing is buffered. */
  long capacity() {
    return capacity;
  }

  /** Takes {@code n} bytes; false, with nothing taken and the fallback counted, past the cap. */
  boolean take(long n) {
    for (; ; ) {
      long h = held.get();
      if (h + n > capacity) {
        refused();
        return false;
      }
      if (held.compareAndSet(h, h + n)) {
        return true;
      }
    }
  }

  /** Gives back {@code n} bytes taken before. */
  void give(long n) {
    long h = held.addAndGet(-n);
    if (spent && h <= capacity / 2) {
      spent = false; // the episode is over: the next refusal is logged again
    }
  }

  private void refused() {
    fallbacks.increment();
    if (!spent) {
      spent = true;
      LOG.warn(
          "request buffer budget of {} bytes spent: request bodies stream until buffers are"
              + " freed",
          capacity);
    }
  }

  HttpProxyStats.Buffering snapshot() {
    return new HttpProxyStats.Buffering(held.get(), fallbacks.sum());
  }
}
