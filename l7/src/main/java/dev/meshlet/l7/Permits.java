package dev.meshlet.l7;

import dev.meshlet.core.Cluster;
import dev.meshlet.core.internal.Admission;
import dev.meshlet.core.internal.Permit;
import org.jspecify.annotations.Nullable;

/**
 * The places one request holds in its cluster's limits: the circuit breaker, the pending limit of
 * the try being sent, and the retry budget once it retries. Every call on the cluster's admission
 * is here; each permit is closed once, whoever closes it first.
 */
final class Permits {
  private final Cluster cluster;
  private final Permit admitted;

  /** The place of the try being sent in the pending limit (it waits for a connection). */
  private volatile @Nullable Permit pending;

  /** Taken with the first retry, held to the end. */
  private @Nullable Permit retryBudget;

  private Permits(Cluster cluster, Permit admitted) {
    this.cluster = cluster;
    this.admitted = admitted;
  }

  /** Admission through {@code cluster}'s circuit breaker; null when it is open. */
  static @Nullable Permits enter(Cluster cluster) {
    Permit p = Admission.tryEnter(cluster);
    return p == null ? null : new Permits(cluster, p);
  }

  Cluster cluster() {
    return cluster;
  }

  /** Takes a place in the pending limit for the try being sent; false when the limit is reached. */
  boolean enterPending() {
    Permit p = Admission.tryEnterPending(cluster);
    pending = p;
    return p != null;
  }

  /** The try no longer waits for a connection. */
  void releasePending() {
    Permit p = pending;
    if (p != null) {
      p.close();
    }
  }

  /** A place in the retry budget for a retry that is always allowed (a stale pooled connection). */
  void enterRetry() {
    if (retryBudget == null) {
      retryBudget = Admission.enterRetry(cluster);
    }
  }

  /** A place in the retry budget as {@code policy} sizes it; false when the budget is spent. */
  boolean tryEnterRetry(RetryPolicy policy) {
    if (retryBudget == null) {
      retryBudget = Admission.tryEnterRetry(cluster, policy.budgetPercent(), policy.minRetries());
    }
    return retryBudget != null;
  }

  /** Gives back every place held. */
  void close() {
    releasePending();
    admitted.close();
    Permit r = retryBudget;
    if (r != null) {
      r.close();
    }
  }
}
