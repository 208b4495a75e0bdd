package dev.meshlet.l7;

import org.eclipse.jetty.io.EofException;
import org.eclipse.jetty.server.Request;
import org.jspecify.annotations.Nullable;

/**
 * What one exchange knows of its client (client→proxy): whether it left and when, whether its body
 * was malformed, and the watch on its connection while the backend is silent. The exchange reads
 * and sets it; it calls nothing back.
 */
final class ClientSide {
  private final long startNanos;
  private volatile boolean gone;

  /**
   * When the client was seen leaving, in nanoseconds since the request arrived; -1 while it stays.
   */
  private volatile long leftNanos = -1;

  private volatile boolean malformed;
  private volatile ClientWatcher.@Nullable Watch watch;
  private volatile boolean answered;

  /** For a request that arrived at {@code startNanos}. */
  ClientSide(long startNanos) {
    this.startNanos = startNanos;
  }

  /**
   * Whether the client left or sent a malformed body: whatever fails now is not the backend's
   * fault.
   */
  boolean failed() {
    return gone || malformed;
  }

  /** Whether the client can no longer be written to. */
  boolean gone() {
    return gone;
  }

  /** Whether the client's body was malformed (answered 400). */
  boolean malformed() {
    return malformed;
  }

  /**
   * Reading the client's body failed: malformed (answered 400) or the client went away (counted as
   * such).
   */
  void bodyFailed(Request clientRequest, @Nullable Throwable failure) {
    if (RequestChecks.malformed(clientRequest, failure)) {
      malformedBody();
    } else {
      left();
    }
  }

  /**
   * The client closed or reset its connection while the server was silent: noted, and the
   * connection closed at once, so that nothing (not Jetty's error page either) is written to a
   * half-closed client.
   *
   * @return the failure to abort the try with
   */
  EofException vanished(Request clientRequest) {
    left();
    clientRequest.getConnectionMetaData().getConnection().getEndPoint().close();
    return new EofException("client closed the connection while the backend was silent");
  }

  /** The client's body was malformed, or the request could not be handled: the client's fault. */
  void malformedBody() {
    malformed = true;
  }

  /** The client left (closed, reset, or a write to it failed): noted with when, the first time. */
  void left() {
    if (leftNanos < 0) {
      leftNanos = System.nanoTime() - startNanos;
    }
    gone = true;
  }

  /**
   * The proxy itself cut the client response (an abort fault): not written to any more, not left.
   */
  void cut() {
    gone = true;
  }

  /** When the client left, in nanoseconds since the request arrived; -1 when it stayed. */
  long leftNanos() {
    return leftNanos;
  }

  /**
   * Watches the client's connection for it leaving, once, unless the client is being answered;
   * {@code onVanished} runs if it leaves. Not while Jetty still reads the body: it sees the client
   * leave by itself.
   */
  void watch(
      @Nullable ClientWatcher watcher,
      Request clientRequest,
      @Nullable RequestBody body,
      Runnable onVanished) {
    if (watcher == null || watch != null || answered || body != null && body.reading()) {
      return;
    }
    watch = watcher.watch(clientRequest, onVanished);
    if (answered) { // the answer began meanwhile
      ClientWatcher.Watch.cancel(watch);
    }
  }

  /**
   * The client is being answered: the watch, if any, ends (a client may read its answer and close:
   * that is not leaving), and the connection is Jetty's alone again.
   */
  void stopWatching() {
    answered = true;
    ClientWatcher.Watch.cancel(watch);
  }
}
