package dev.meshlet.l7;

import dev.meshlet.core.Endpoint;
import java.util.concurrent.ThreadLocalRandom;
import org.eclipse.jetty.client.Response;
import org.jspecify.annotations.Nullable;

/**
 * The retry state of one exchange: its policy, the client's balancing key, how many tries were
 * made, and the rules a failed try must pass to be tried again (the policy, a replayable body, the
 * cluster's retry budget). The exchange runs the loop; this decides each step. Used by the
 * exchange's one thread at a time (Jetty's callbacks hand over with a happens-before).
 */
final class RetryLoop {
  private final RetryPolicy policy;
  private final long key;
  private final RetryStats stats;

  /** Tries made before the current one. */
  private int tries;

  private int staleRetries;

  RetryLoop(RetryPolicy policy, long key, RetryStats stats) {
    this.policy = policy;
    this.key = key;
    this.stats = stats;
  }

  RetryPolicy policy() {
    return policy;
  }

  /**
   * Why {@code policy} retries a response with this head: its status, or the gRPC status it carries
   * (a Trailers-Only response); null when it does not.
   */
  static HttpProxyStats.@Nullable RetryReason responseReason(
      RetryPolicy policy, Response serverResponse) {
    if (policy.retriesStatus(serverResponse.getStatus())) {
      return HttpProxyStats.RetryReason.STATUS;
    }
    if (!policy.retryOnGrpc().isEmpty()
        && policy.retriesGrpc(Grpc.status(serverResponse.getHeaders()))) {
      return HttpProxyStats.RetryReason.GRPC_STATUS;
    }
    return null;
  }

  /** The first backend, picked from {@code permits}' cluster by the client's key. */
  @Nullable Endpoint first(Permits permits) {
    return permits.cluster().pick(key);
  }

  /**
   * Whether a try of {@code method} that failed for {@code reason} may be tried again; a true
   * answer holds a place in the retry budget. A stale pooled connection is always retried, up to
   * {@link RequestBody#STALE_REPLAYS} times, if the body can be sent again.
   */
  boolean allows(
      HttpProxyStats.RetryReason reason,
      String method,
      @Nullable RequestBody body,
      Permits permits) {
    if (reason == HttpProxyStats.RetryReason.STALE_CONNECTION
        && staleRetries < RequestBody.STALE_REPLAYS) {
      if (body != null && !body.replayForStaleRetry()) {
        stats.notReplayable();
        return false;
      }
      staleRetries++;
      permits.enterRetry();
      return true;
    }
    if (!policy.allowsAnother(tries, method)) {
      return false;
    }
    if (body != null && !body.replayable()) {
      stats.notReplayable();
      return false;
    }
    if (!permits.tryEnterRetry(policy)) {
      stats.budgetExhausted();
      return false;
    }
    return true;
  }

  /** Counts a retry for {@code reason}; returns how long to wait before it, in ns (0: at once). */
  long retried(HttpProxyStats.RetryReason reason) {
    stats.retried(reason);
    tries++;
    return reason == HttpProxyStats.RetryReason.STALE_CONNECTION
        ? 0
        : policy.backoffNanos(tries, ThreadLocalRandom.current().nextLong());
  }

  /** The next try's backend, another than {@code previous} if there is one; null for none. */
  @Nullable Endpoint next(Permits permits, Endpoint previous) {
    return permits.cluster().pick(key, tries, previous);
  }
}
