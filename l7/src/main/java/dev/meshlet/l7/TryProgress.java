package dev.meshlet.l7;

import java.io.IOException;
import java.util.concurrent.RejectedExecutionException;
import org.jspecify.annotations.Nullable;

/**
 * How far one {@link Attempt} got (a connection, its head handed to it, a response begun, a
 * timeout), and what that makes of its failure: the one place that tells which failures may be
 * tried again, and why. Written by Jetty's listeners of the try, read when it completes.
 */
final class TryProgress {
  private volatile boolean requestBegun;
  private volatile boolean reusedConnection;

  /**
   * The proxy request's head was handed to the connection to be written: from then on the backend
   * may have all of it. Set when Jetty is about to write the head (its "headers" event), not when
   * the write has completed ("commit"): that notice can come after the backend has read the whole
   * request, closed, and the failure was seen.
   */
  private volatile boolean headMayBeWritten;

  private volatile boolean responseBegun;
  private volatile boolean timedOut;

  /**
   * Set when a response head the retry policy lists is to be retried: the abort that follows is
   * ours, retried for this reason.
   */
  private volatile HttpProxyStats.@Nullable RetryReason responseRetry;

  /** The status of the response head retried; 0 when none is. */
  private volatile int retriedStatus;

  /** The try got a connection; {@code reused}: one that served requests before. */
  void connected(boolean reused) {
    requestBegun = true;
    reusedConnection = reused;
  }

  /** The proxy request's head is about to be written. */
  void headMayBeWritten() {
    headMayBeWritten = true;
  }

  /** The server's response began. */
  void responseBegun() {
    responseBegun = true;
  }

  /** The try timed out (its own deadline or the request's). */
  void timedOut() {
    timedOut = true;
  }

  /** The response head of {@code status} is retried for {@code reason}; the try is aborted next. */
  void retryResponse(HttpProxyStats.RetryReason reason, int status) {
    responseRetry = reason;
    retriedStatus = status;
  }

  boolean requestBegun() {
    return requestBegun;
  }

  boolean isResponseBegun() {
    return responseBegun;
  }

  boolean isTimedOut() {
    return timedOut;
  }

  /** Whether what is sent of a streamed body must be kept for a stale-connection retry. */
  boolean keepsForReplay() {
    return reusedConnection && !responseBegun;
  }

  /** The reason a retried response head was retried for; null when none was. */
  HttpProxyStats.@Nullable RetryReason responseRetry() {
    return responseRetry;
  }

  /** The status of the retried response head; 0 when none was. */
  int retriedStatus() {
    return retriedStatus;
  }

  /**
   * What went wrong with the try of {@code method}, as a retry reason; null when it must not be
   * retried.
   */
  HttpProxyStats.@Nullable RetryReason retryReason(Throwable failure, String method) {
    if (failure instanceof RejectedExecutionException || responseBegun) {
      return null;
    }
    if (timedOut) {
      return HttpProxyStats.RetryReason.PER_TRY_TIMEOUT;
    }
    if (!requestBegun) {
      return HttpProxyStats.RetryReason.CONNECT_FAILURE;
    }
    if (reusedConnection
        && failure instanceof IOException
        && (RetryPolicy.idempotent(method) || !headMayBeWritten)) {
      // The keep-alive race, retried whatever the policy. The backend may have received a request
      // whose head was written and acted on it before closing, so a non-idempotent one (RFC 9110
      // §9.2.2) is a stale retry only when none of it was written; otherwise the policy decides.
      return HttpProxyStats.RetryReason.STALE_CONNECTION;
    }
    return HttpProxyStats.RetryReason.RESET;
  }
}
