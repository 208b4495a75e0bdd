package dev.meshlet.l7;

import java.util.EnumMap;
import java.util.Map;
import java.util.concurrent.atomic.LongAdder;

/**
 * The proxy-wide retry counters: retries made by reason, and retries refused (the budget is per
 * cluster).
 */
final class RetryStats {
  private final LongAdder[] retries = new LongAdder[HttpProxyStats.RetryReason.values().length];
  private final LongAdder budgetExhausted = new LongAdder();
  private final LongAdder notReplayable = new LongAdder();

  RetryStats() {
    for (int i = 0; i < retries.length; i++) {
      retries[i] = new LongAdder();
    }
  }

  void retried(HttpProxyStats.RetryReason reason) {
    retries[reason.ordinal()].increment();
  }

  void budgetExhausted() {
    budgetExhausted.increment();
  }

  void notReplayable() {
    notReplayable.increment();
  }

  HttpProxyStats.Retries snapshot() {
    Map<HttpProxyStats.RetryReason, Long> m = new EnumMap<>(HttpProxyStats.RetryReason.class);
    for (HttpProxyStats.RetryReason r : HttpProxyStats.RetryReason.values()) {
      long n = retries[r.ordinal()].sum();
      if (n != 0) {
        m.put(r, n);
      }
    }
    return new HttpProxyStats.Retries(m, budgetExhausted.sum(), notReplayable.sum());
  }
}
