package dev.meshlet.l7;

import dev.meshlet.core.Endpoint;
import dev.meshlet.core.internal.JournalWriter;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.eclipse.jetty.server.Request;
import org.jspecify.annotations.Nullable;
import org.slf4j.ILoggerFactory;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.slf4j.helpers.NOPLoggerFactory;

/**
 * Where every request is written down: its number, the faults applied to it and, when it ends, its
 * counts, its access log line and its journal entry. The one writer of the journal.
 */
final class Ledger {
  private static final Logger ACCESS_LOG = LoggerFactory.getLogger("dev.meshlet.l7.access");

  /** Set once the missing-binding warning has been given, so a JVM gives it once. */
  private static final AtomicBoolean WARNED_NO_BINDING = new AtomicBoolean();

  private final ProxyCounters counters;
  private final JournalWriter<HttpEvent> journal;
  private final boolean accessLog;
  private final Executor executor;
  private final AtomicLong requestIds = new AtomicLong();

  /** {@code executor} writes the access log lines (never the network threads). */
  Ledger(
      ProxyCounters counters,
      JournalWriter<HttpEvent> journal,
      boolean accessLog,
      Executor executor) {
    this.counters = counters;
    this.journal = journal;
    this.accessLog = accessLog;
    this.executor = executor;
    if (accessLog) {
      warnIfSwallowed(LoggerFactory.getILoggerFactory(), WARNED_NO_BINDING);
    }
  }

  /**
   * Warns through {@link System.Logger} when SLF4J has no provider: its NOP fallback would drop
   * every access log line without a word. Returns whether it warned.
   */
  static boolean warnIfSwallowed(ILoggerFactory factory, AtomicBoolean warned) {
    if (!(factory instanceof NOPLoggerFactory) || !warned.compareAndSet(false, true)) {
      return false;
    }
    System.getLogger(ACCESS_LOG.getName())
        .log(
            System.Logger.Level.WARNING,
            "the access log is on but SLF4J has no provider, so its lines are dropped; add one"
                + " (e.g. org.slf4j:slf4j-simple or logback-classic) to the classpath");
    return true;
  }

  /**
   * Numbers a request that arrived: from 1 in arrival order, for the journal and the fault draws.
   */
  long nextRequestId() {
    return requestIds.incrementAndGet();
  }

  /** The journal's generation now: entries stamped with an older one are dropped after a clear. */
  long generation() {
    return journal.generation();
  }

  /** Journals the faults {@code plan} applies to request {@code id} of {@code route}. */
  void faultsApplied(long id, long generation, HttpRoute route, FaultPlan plan) {
    for (int i = 0; i < plan.applied.size(); i++) {
      journal.record(
          new HttpEvent.FaultApplied(id, route.name(), plan.applied.get(i), Instant.now()),
          generation);
    }
  }

  /**
   * Writes down a request that ended: the total's and its route's counts (the backend's are its
   * try's), the access log line, then the journal entry, then it leaves the in-flight count, so
   * that a test that saw the entry ({@code awaitRequests}) or no request in flight ({@code
   * awaitIdle}) reads final stats.
   *
   * @param routeCounters null when it was not routed
   * @param endpoint the backend of the try it ended with; null when it ended between tries or
   *     before any
   * @param serverHeadMicros how long the server took to begin its response; -1 when no head was
   *     forwarded
   * @param status the status counted (the response the proxy wrote or began)
   * @param clientStatus the status the client got; 0 when none reached it
   * @param backendStatus the status the backend answered; 0 for none
   * @param clientLeftNanos when the client left, since the request arrived; -1 when it stayed
   */
  void ended(
      Request clientRequest,
      long id,
      long generation,
      long startNanos,
      @Nullable HttpRoute route,
      @Nullable Counters routeCounters,
      @Nullable Endpoint endpoint,
      long serverHeadMicros,
      @Nullable FaultPlan plan,
      int status,
      HttpProxyStats.@Nullable ErrorKind kind,
      long in,
      long out,
      int clientStatus,
      int backendStatus,
      long clientLeftNanos) {
    counters.requestEnded(routeCounters, status, kind, in, out);
    if (accessLog && ACCESS_LOG.isInfoEnabled()) {
      Object[] line = {
        clientRequest.getMethod(),
        clientRequest.getHttpURI().getPathQuery(),
        status,
        route == null ? "-" : route.name(),
        endpoint == null ? "-" : endpoint.backend().displayName(),
        serverHeadMicros,
        (System.nanoTime() - startNanos) / 1000,
        in,
        out,
        kind == null ? "" : " error=" + kind
      };
      // this may run on a selector thread: a synchronous appender must not stall the network
      Runnable log =
          () ->
              ACCESS_LOG.info(
                  "{} {} {} route={} backend={} upstream_us={} total_us={} in={} out={}{}", line);
      try {
        executor.execute(log);
      } catch (RejectedExecutionException stopping) {
        log.run();
      }
    }
    Counters total = counters.total;
    total.counted(status);
    if (journal.journal().capacity() > 0) {
      journal.record(
          new HttpEvent.Completed(
              id,
              clientRequest.getMethod(),
              clientRequest.getHttpURI().getPathQuery(),
              route == null ? null : route.name(),
              endpoint == null ? null : endpoint.backend(),
              clientStatus,
              backendStatus,
              clientLeftNanos < 0 ? null : Duration.ofNanos(clientLeftNanos),
              plan == null ? List.of() : plan.kinds,
              kind,
              Instant.now()),
          generation);
    }
    counters.ended(total.left());
  }
}
