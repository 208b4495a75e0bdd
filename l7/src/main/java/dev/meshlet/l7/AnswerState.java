package dev.meshlet.l7;

/**
 * Who answers an {@link Exchange}'s client, and when: one value per exchange, changed only by
 * compare-and-set, so that exactly one caller writes the client response.
 *
 * <pre>
 * from        to          by
 * IDLE        PREPARING   Exchange.prepare(): a try is being built (its counters begun)
 * PREPARING   IDLE        prepare(): built, not sent; a request timeout meanwhile is answered now
 * IDLE        IN_FLIGHT   send(): the try is handed to Jetty
 * IN_FLIGHT   IDLE        retry(): the failed try ended; the next waits its backoff
 * IDLE        ANSWERING   claim(): a local answer (refusal, timeout, client gone, no backend)
 * IN_FLIGHT   ANSWERING   claim(): the try in flight forwards its response or answers its failure
 * any         DONE        finish(): counters, log, journal, Jetty's callback
 * </pre>
 *
 * <p>In IDLE, a request timeout or a client failure answers by itself (cancelling a backoff); in
 * IN_FLIGHT or ANSWERING it aborts the try, whose failure answers; in PREPARING it is noted and
 * answered when the try is built.
 */
enum AnswerState {
  /** No try in flight: before the first, while the body is read, during a backoff. */
  IDLE,
  /** A try is being built. */
  PREPARING,
  /** A try was handed to Jetty. */
  IN_FLIGHT,
  /** The client response is being written. */
  ANSWERING,
  /** Jetty's callback completed. */
  DONE
}
