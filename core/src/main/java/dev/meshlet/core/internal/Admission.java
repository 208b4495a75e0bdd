package dev.meshlet.core.internal;

import dev.meshlet.core.Cluster;
import java.util.Objects;
import org.jspecify.annotations.Nullable;

/**
 * Admission to a cluster's limits: each answer is a {@link Permit} to close when the connection,
 * request, wait or retry ends, or {@code null} when the limit refused (counted in the cluster's
 * stats, the first refusal logged).
 *
 * <pre>{@code
 * try (Permit admitted = Admission.tryEnter(cluster)) {
 *   if (admitted == null) { ... 503 ... }
 *   ...
 * }
 * }</pre>
 */
public final class Admission {
  private Admission() {}

  /**
   * The circuit breaker: admits one more connection (L4) or request (L7) unless the cluster's
   * {@code maxActive} are in flight.
   */
  public static @Nullable Permit tryEnter(Cluster cluster) {
    Gate g = Access.clusters().active(Objects.requireNonNull(cluster, "cluster"));
    return g.tryEnter() ? new Permit(g) : null;
  }

  /**
   * The pending limit: admits one more request (L7) waiting for a connection to one of the
   * cluster's backends, or connection (L4) waiting for its backend connection, unless {@code
   * maxPending} are waiting.
   */
  public static @Nullable Permit tryEnterPending(Cluster cluster) {
    Gate g = Access.clusters().pending(Objects.requireNonNull(cluster, "cluster"));
    return g.tryEnter() ? new Permit(g) : null;
  }

  /**
   * The retry budget: admits one more retry unless the retries in flight are already {@code
   * budgetPercent} of the connections or requests in flight ({@link #tryEnter}), or {@code
   * minRetries}, whichever is more.
   */
  public static @Nullable Permit tryEnterRetry(Cluster cluster, int budgetPercent, int minRetries) {
    Access.ClusterAccess a = Access.clusters();
    Gate g = a.retries(Objects.requireNonNull(cluster, "cluster"));
    return g.tryEnterShareOf(a.active(cluster), budgetPercent, minRetries) ? new Permit(g) : null;
  }

  /**
   * A retry the budget does not limit (a stale pooled connection, retried whatever the budget); it
   * still counts as in flight.
   */
  public static Permit enterRetry(Cluster cluster) {
    Gate g = Access.clusters().retries(Objects.requireNonNull(cluster, "cluster"));
    g.tryEnter(); // the retries gate has no limit of its own
    return new Permit(g);
  }
}
