package dev.meshlet.l7;

import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.util.thread.Scheduler;
import org.jspecify.annotations.Nullable;

/**
 * Every timer of the request path in one place: the request head deadline, the whole-request
 * timeout, the per-try response and connect timeouts, and the delays (backoff, injected faults).
 * Which of the proxy's and the route's settings applies is decided here; what a timer does when it
 * fires belongs to the exchange or the try that set it.
 */
final class Timeouts {
  /** How long a backend may be silent before the client's connection is watched for it leaving. */
  static final long WATCH_AFTER_MILLIS = 200;

  private final Scheduler scheduler;
  private final ProxyConfig config;
  private final @Nullable HeadDeadline headDeadline;

  Timeouts(Scheduler scheduler, ProxyConfig config, @Nullable HeadDeadline headDeadline) {
    this.scheduler = scheduler;
    this.config = config;
    this.headDeadline = headDeadline;
  }

  /** Whether the client request's head arrived before its connection's head deadline. */
  boolean headInTime(Request clientRequest) {
    HeadDeadline d = headDeadline;
    return d == null || d.headArrived(clientRequest.getConnectionMetaData().getConnection());
  }

  /** The client response was written whole: the connection's next head gets a fresh deadline. */
  void responseDone(Request clientRequest) {
    HeadDeadline d = headDeadline;
    if (d != null) {
      d.responseDone(clientRequest.getConnectionMetaData().getConnection());
    }
  }

  /** The whole-request timeout of a request on {@code route}; zero for none. */
  Duration request(HttpRoute route) {
    return route.requestTimeout != null ? route.requestTimeout : config.requestTimeout();
  }

  /**
   * How long a try's proxy request may stay idle: as its route sets, else the upstream idle timeout
   * but at least the response deadline plus 1 s. Jetty applies the idle timeout while a try waits
   * for its response too, so the deadline decides (both ways).
   */
  long proxyRequestIdleMillis(HttpRoute route, long responseMillis) {
    return route.idleTimeout != null
        ? route.idleTimeout.toMillis()
        : Math.max(config.upstreamIdleTimeout().toMillis(), responseMillis + 1000);
  }

  /** How long one try may wait for its response to begin. */
  Duration perTry(RetryPolicy policy, HttpRoute route) {
    if (!policy.perTryTimeout().isZero()) {
      return policy.perTryTimeout();
    }
    return route.responseTimeout != null ? route.responseTimeout : config.responseTimeout();
  }

  /**
   * Starts a try's connect timeout when its route sets one; null otherwise (the client's own
   * applies).
   */
  Scheduler.@Nullable Task connect(HttpRoute route, Runnable onTimeout) {
    Duration d = route.connectTimeout;
    return d == null ? null : scheduler.schedule(onTimeout, d.toNanos(), TimeUnit.NANOSECONDS);
  }

  /** Runs {@code task} after {@code nanos}. */
  Scheduler.Task afterNanos(long nanos, Runnable task) {
    return scheduler.schedule(task, nanos, TimeUnit.NANOSECONDS);
  }

  /** Runs {@code task} after {@code millis}. */
  Scheduler.Task afterMillis(long millis, Runnable task) {
    return scheduler.schedule(task, millis, TimeUnit.MILLISECONDS);
  }

  /** The scheduler, for a fault plan's shaped writes. */
  Scheduler scheduler() {
    return scheduler;
  }

  /** Cancels {@code task} if there is one. */
  static void cancel(Scheduler.@Nullable Task task) {
    if (task != null) {
      task.cancel();
    }
  }
}
