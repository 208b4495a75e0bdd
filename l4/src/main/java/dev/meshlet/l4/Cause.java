package dev.meshlet.l4;

/**
 * Why a connection ended: the one vocabulary {@link Connection#end} takes, counted in the stats and
 * written to the journal as {@link #label()} (or a more precise text, for toxics and overflows).
 */
enum Cause {
  /** Both sides finished: each direction saw its end of stream. */
  CLOSED("closed"),
  /** A reset or I/O error on one side, propagated to the other as a reset. */
  RESET("reset"),
  /** No traffic either way for the idle timeout. */
  IDLE_TIMEOUT("idle timeout"),
  /** A toxic ended it (reset peer, limit data, timeout). */
  TOXIC("toxic"),
  /**
   * The proxy closed and the drain timeout passed, or it could no longer start the connection's
   * threads.
   */
  PROXY_CLOSED("proxy closed"),
  /** The proxy was disabled: open connections are closed, new ones refused. */
  DISABLED("disabled"),
  /** No backend could be picked or reached. */
  NO_BACKEND("no backend"),
  /** A cluster circuit breaker was open. */
  OVERFLOW("overflow"),
  /** The proxy had no file descriptor left for the backend socket. */
  NO_SOCKET("no socket"),
  /** No valid PROXY protocol header, in time, from a trusted front. */
  PROXY_HEADER("proxy header"),
  /** The ClientHello was broken, too large, late, or named no server where one is required. */
  HELLO("client hello"),
  /** The TLS handshake with the client failed or took too long. */
  TLS("tls handshake");

  private final String label;

  Cause(String label) {
    this.label = label;
  }

  /** The journal's word for it. */
  String label() {
    return label;
  }
}
