package dev.meshlet.l7;

import dev.meshlet.core.Endpoint;
import dev.meshlet.core.internal.Lease;
import org.jspecify.annotations.Nullable;

/**
 * What one try counts against its backend: the endpoint lease (in-flight count, bytes, and the
 * outcome outlier detection sees) and the backend's counters in the proxy's stats. Begun when the
 * try is built, ended once, for a retry or with the exchange.
 */
final class TryTally {
  private final Lease lease;
  private final Counters backend;

  /** Read only after the exchange's state changed (which orders it). */
  private boolean ended;

  private TryTally(Lease lease, Counters backend) {
    this.lease = lease;
    this.backend = backend;
  }

  /** Begins a try on {@code endpoint}, counted in {@code backend} too. */
  static TryTally begin(Endpoint endpoint, Counters backend) {
    Lease lease = Lease.begin(endpoint);
    backend.begin();
    return new TryTally(lease, backend);
  }

  /** The backend failed this try: outlier detection counts it. */
  void failed() {
    lease.failed();
  }

  /** The whole response came; a no-op after a server error's failure. */
  void succeeded() {
    lease.succeeded();
  }

  /** {@code n} bytes went to the backend. */
  void bytesOut(long n) {
    lease.bytesOut(n);
  }

  /** {@code n} bytes came from the backend. */
  void bytesIn(long n) {
    lease.bytesIn(n);
  }

  /** Whether the try is over for its counters. */
  boolean ended() {
    return ended;
  }

  /** Ends a failed try that is retried ({@code status}: the status retried, else 0). */
  void endForRetry(HttpProxyStats.RetryReason reason, int status) {
    ended = true;
    switch (reason) {
      case CONNECT_FAILURE, RESET, PER_TRY_TIMEOUT -> lease.failed(); // STATUS counted at its head
      default -> {}
    }
    lease.close();
    if (reason == HttpProxyStats.RetryReason.PER_TRY_TIMEOUT) {
      backend.error(HttpProxyStats.ErrorKind.GATEWAY_TIMEOUT);
    } else if (reason != HttpProxyStats.RetryReason.STATUS
        && reason != HttpProxyStats.RetryReason.GRPC_STATUS) {
      backend.error(HttpProxyStats.ErrorKind.BAD_GATEWAY);
    }
    backend.end(status);
  }

  /**
   * Ends the try with its exchange: the backend's counters get the exchange's outcome and bytes.
   */
  void end(int status, HttpProxyStats.@Nullable ErrorKind kind, long in, long out) {
    ended = true;
    if (kind != null) {
      backend.error(kind);
    }
    backend.bytesIn(in);
    backend.bytesOut(out);
    backend.end(status);
    lease.close();
  }
}
