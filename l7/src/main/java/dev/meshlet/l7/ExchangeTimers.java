package dev.meshlet.l7;

import java.time.Duration;
import org.eclipse.jetty.util.thread.Scheduler;
import org.jspecify.annotations.Nullable;

/**
 * The timers of one exchange and what they decided: the whole-request deadline, the request body
 * deadline's verdict (its timer is the body's), and the backoff before the next try. The exchange
 * reacts to them; this only keeps them.
 */
final class ExchangeTimers {
  private final Timeouts timeouts;
  private volatile Scheduler.@Nullable Task backoff;
  private Scheduler.@Nullable Task request;
  private volatile boolean requestPassed;
  private volatile boolean bodyLate;

  ExchangeTimers(Timeouts timeouts) {
    this.timeouts = timeouts;
  }

  /** Runs {@code onPassed} when {@code whole} has passed (zero: never). */
  void requestDeadline(Duration whole, Runnable onPassed) {
    if (!whole.isZero()) {
      request = timeouts.afterNanos(whole.toNanos(), onPassed);
    }
  }

  /** Notes that the whole-request deadline passed. */
  void requestPassed() {
    requestPassed = true;
  }

  /** Notes that the client's body missed its deadline. */
  void bodyLate() {
    bodyLate = true;
  }

  /** Whether the client's body missed its deadline: the client's fault, answered 408. */
  boolean isBodyLate() {
    return bodyLate;
  }

  /** Whether a deadline passed: no try may start or be retried. */
  boolean passed() {
    return requestPassed || bodyLate;
  }

  /** Runs {@code next} after {@code nanos}. */
  void backoff(long nanos, Runnable next) {
    backoff = timeouts.afterNanos(nanos, next);
  }

  /** The backoff ended: its next try runs now. */
  void backoffEnded() {
    backoff = null;
  }

  /** Cancels a backoff's next try, if one waits. */
  void cancelBackoff() {
    Timeouts.cancel(backoff);
  }

  /** The exchange ended: no deadline fires any more. */
  void cancel() {
    Timeouts.cancel(request);
  }
}
