package dev.meshlet.l7;

import dev.meshlet.core.Cluster;
import java.time.Duration;
import java.util.EnumMap;
import java.util.Map;
import java.util.concurrent.atomic.LongAdder;

/**
 * The proxy-wide side of retries, timeouts and live updates: defaults routes fall back to, the
 * current route table and the retry counters (the retry budget itself is per cluster).
 */
final class Resilience {
  final RetryPolicy retryPolicy;
  /** Whole-request timeout; zero for none. */
  final Duration requestTimeout;
  volatile RouteTable table;
  volatile boolean draining;
  private final LongAdder[] retries = new LongAdder[HttpProxyStats.RetryReason.values().length];
  private final LongAdder budgetExhausted = new LongAdder();
  private final LongAdder notReplayable = new LongAdder();

  Resilience(RetryPolicy retryPolicy, Duration requestTimeout, RouteTable table) {
    this.retryPolicy = retryPolicy;
    this.requestTimeout = requestTimeout;
    this.table = table;
    for (int i = 0; i < retries.length; i++) {
      retries[i] = new LongAdder();
    }
  }

  /**
   * Takes a place in {@code cluster}'s retry budget, as large as {@code policy} says; pair a true
   * answer with {@link Cluster#releaseRetry()}. A false answer is counted.
   */
  boolean tryStartRetry(RetryPolicy policy, Cluster cluster) {
    if (cluster.tryAcquireRetry(policy.budgetPercent(), policy.minRetries())) {
      return true;
    }
    budgetExhausted.increment();
    return false;
  }

  void retried(HttpProxyStats.RetryReason reason) {
    retries[reason.ordinal()].increment();
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
