package dev.meshlet.l7;

import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeoutException;
import org.jspecify.annotations.Nullable;

/**
 * What the client gets when a try failed and is not retried, and whether its backend is to blame:
 * the one table of those rules. Stateless; {@link Exchange#tryFailed} writes the answer.
 *
 * @param status the status to answer; 0 to end the exchange without one (the client is gone, or the
 *     response was under way)
 * @param kind what it is counted as
 * @param reason said in the answer ({@code X-Meshlet-Overflow} and body), or null
 * @param close whether the client connection closes after the answer
 * @param backendFailed whether the try counts as its backend's failure
 */
record FailedTry(
    int status,
    HttpProxyStats.ErrorKind kind,
    @Nullable String reason,
    boolean close,
    boolean backendFailed) {

  /**
   * The answer for {@code a}'s {@code failure}.
   *
   * @param bodyLate the client's body missed its deadline
   * @param body the client's body; null for none
   * @param committed the client response is committed
   */
  static FailedTry of(
      Attempt a,
      Throwable failure,
      ClientSide client,
      boolean bodyLate,
      @Nullable RequestBody body,
      boolean committed) {
    if (client.gone()) {
      return new FailedTry(0, HttpProxyStats.ErrorKind.CLIENT_ABORTED, null, false, false);
    }
    if (client.malformed()) {
      return new FailedTry(400, HttpProxyStats.ErrorKind.BAD_REQUEST, null, true, false);
    }
    if (bodyLate && !a.headForwarded()) { // the client was too slow: not the backend's fault
      return new FailedTry(408, HttpProxyStats.ErrorKind.REQUEST_TIMEOUT, null, true, false);
    }
    if (failure instanceof RejectedExecutionException && !committed) {
      // Jetty's queue of requests waiting for a connection to this backend is full
      String why = "backend " + a.endpoint().backend().displayName() + " max pending requests";
      return new FailedTry(503, HttpProxyStats.ErrorKind.PENDING_OVERFLOW, why, false, false);
    }
    if (committed) { // it died mid-response: abort the client connection, not end the body cleanly
      return new FailedTry(0, HttpProxyStats.ErrorKind.UPSTREAM_ABORTED, null, false, true);
    }
    if (DescriptorShortage.isShortage(failure)) { // the proxy's shortage, not the backend's
      return new FailedTry(
          503,
          HttpProxyStats.ErrorKind.OUT_OF_FILE_DESCRIPTORS,
          "proxy out of file descriptors",
          false,
          false);
    }
    if (idleForClient(a, failure, body)) { // the client paused mid-body: not the backend's fault
      return new FailedTry(408, HttpProxyStats.ErrorKind.REQUEST_TIMEOUT, null, true, false);
    }
    if (a.timedOut() || failure instanceof TimeoutException) {
      return new FailedTry(504, HttpProxyStats.ErrorKind.GATEWAY_TIMEOUT, null, false, true);
    }
    Destinations.Why why = a.why();
    return why == null
        ? new FailedTry(502, HttpProxyStats.ErrorKind.BAD_GATEWAY, null, false, true)
        : new FailedTry(502, why.kind(), why.reason(), false, true);
  }

  /**
   * Whether {@code a} timed out idle while it waited for the client's body, with nothing left to
   * send. The upstream idle timeout keeps running then (Jetty's connection is idle both ways, and a
   * backend gone silent looks the same from the proxy's side), but the answer is the client's: 408,
   * as when the request body deadline passes.
   */
  private static boolean idleForClient(Attempt a, Throwable failure, @Nullable RequestBody body) {
    return failure instanceof TimeoutException
        && !a.timedOut()
        && !a.headForwarded()
        && body != null
        && body.stalledByClient();
  }
}
