package dev.meshlet.l7;

import java.util.concurrent.atomic.AtomicIntegerFieldUpdater;
import org.eclipse.jetty.util.thread.Scheduler;
import org.jspecify.annotations.Nullable;

/**
 * The timers of one try, which fire into it: the response deadline (from the send, or from the end
 * of a client body still arriving; after a while of server silence the client's connection is
 * watched too) and the route's connect deadline.
 */
final class TryTimers {
  private static final AtomicIntegerFieldUpdater<TryTimers> ARMED =
      AtomicIntegerFieldUpdater.newUpdater(TryTimers.class, "armed");

  private final Attempt attempt;
  private final Timeouts timeouts;
  private final boolean watchClient;
  private final long responseMillis;

  /** 1 once the response deadline runs. */
  private volatile int armed;

  private Scheduler.@Nullable Task response;
  private Scheduler.@Nullable Task connect;

  /**
   * For {@code attempt}, whose server may take {@code responseMillis} to begin its response (0: no
   * deadline).
   */
  TryTimers(Attempt attempt, Timeouts timeouts, boolean watchClient, long responseMillis) {
    this.attempt = attempt;
    this.timeouts = timeouts;
    this.watchClient = watchClient;
    this.responseMillis = responseMillis;
  }

  /** Starts the route's connect deadline, if it sets one. */
  void connectDeadline(HttpRoute route) {
    connect = timeouts.connect(route, attempt::connectDeadlinePassed);
  }

  /** Starts the response deadline, once, unless the response began or the try ended. */
  void armResponse() {
    long timeout = responseMillis;
    if (timeout <= 0 || attempt.responseBegunOrEnded() || !ARMED.compareAndSet(this, 0, 1)) {
      return;
    }
    if (timeout > Timeouts.WATCH_AFTER_MILLIS && watchClient) {
      long rest = timeout - Timeouts.WATCH_AFTER_MILLIS;
      response =
          timeouts.afterMillis(Timeouts.WATCH_AFTER_MILLIS, () -> serverSilent(rest, timeout));
    } else {
      response = timeouts.afterMillis(timeout, () -> responsePassed(timeout));
    }
  }

  /** The server has been silent for a while: watch the client's connection, then keep waiting. */
  private void serverSilent(long rest, long timeout) {
    if (attempt.responseBegunOrEnded()) {
      return;
    }
    attempt.serverSilent();
    response = timeouts.afterMillis(rest, () -> responsePassed(timeout));
  }

  private void responsePassed(long timeout) {
    if (attempt.bodyArriving()) { // the body began to flow after the send (a 100 Continue)
      ARMED.set(this, 0);
      if (!attempt.bodyArriving()) {
        armResponse();
      }
      return;
    }
    attempt.responseDeadlinePassed(timeout);
  }

  /** The server's response began: its deadline is met. */
  void responseBegun() {
    Timeouts.cancel(response);
  }

  /** The try got a connection: its connect deadline is met. */
  void connected() {
    Timeouts.cancel(connect);
  }

  /** The try ended: no timer fires any more. */
  void cancel() {
    Timeouts.cancel(response);
    Timeouts.cancel(connect);
  }
}
