package dev.meshlet.l7;

import dev.meshlet.core.Backend;
import dev.meshlet.core.Endpoint;
import dev.meshlet.core.internal.JournalWriter;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.eclipse.jetty.http.HttpField;
import org.eclipse.jetty.http.HttpFields;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
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
  private final @Nullable HeaderCapture headers;
  private final Executor executor;
  private final AtomicLong requestIds = new AtomicLong();

  /**
   * {@code executor} writes the access log lines (never the network threads); {@code headers} says
   * which headers the journal keeps, null for none.
   */
  Ledger(
      ProxyCounters counters,
      JournalWriter<HttpEvent> journal,
      boolean accessLog,
      @Nullable HeaderCapture headers,
      Executor executor) {
    this.counters = counters;
    this.journal = journal;
    this.accessLog = accessLog;
    this.headers = headers;
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
   * Opens the record of a request that arrived: numbered from 1 in arrival order, in the journal's
   * generation now (its entries are dropped after a clear).
   */
  RequestRecord open() {
    return new RequestRecord(this, requestIds.incrementAndGet(), journal.generation());
  }

  /** Journals the faults {@code plan} applies to request {@code id} of {@code route}. */
  void faultsApplied(long id, long generation, HttpRoute route, FaultPlan plan) {
    counters.faultsApplied(route.name(), plan.applied.size());
    for (int i = 0; i < plan.applied.size(); i++) {
      journal.record(
          new HttpEvent.FaultApplied(id, route.name(), plan.applied.get(i), Instant.now()),
          generation);
    }
  }

  /** Journals try {@code n} of a request as it goes to {@code backend}, when headers are kept. */
  void forwarded(
      RequestRecord request,
      int n,
      Backend backend,
      org.eclipse.jetty.client.Request proxyRequest) {
    HeaderCapture capture = headers;
    if (capture != null && journal.journal().capacity() > 0) {
      String query = proxyRequest.getQuery();
      String target = query == null ? proxyRequest.getPath() : proxyRequest.getPath() + "?" + query;
      journal.record(
          new HttpEvent.Forwarded(
              request.id,
              n,
              backend,
              proxyRequest.getMethod(),
              target,
              copy(proxyRequest.getHeaders(), capture),
              Instant.now()),
          request.generation);
    }
  }

  /** The headers {@code capture} keeps of {@code fields}; none when no capture is set. */
  static RecordedHeaders copy(HttpFields fields, @Nullable HeaderCapture capture) {
    if (capture == null) {
      return RecordedHeaders.none();
    }
    List<RecordedHeaders.Field> kept = new ArrayList<>(fields.size());
    long budget = capture.maxBytes();
    boolean truncated = false;
    for (HttpField f : fields) {
      String value = capture.redacts(f.getName()) ? RecordedHeaders.REDACTED : f.getValue();
      long cost = (long) f.getName().length() + value.length();
      if (cost > budget) {
        truncated = true;
        continue; // a smaller header after it may still fit
      }
      budget -= cost;
      kept.add(new RecordedHeaders.Field(f.getName(), value));
    }
    return new RecordedHeaders(kept, truncated);
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
      Response clientResponse,
      RequestRecord request,
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
    counters.timed(
        routeCounters,
        endpoint,
        serverHeadMicros < 0 ? -1 : serverHeadMicros * 1000,
        System.nanoTime() - startNanos);
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
              request.id,
              clientRequest.getMethod(),
              clientRequest.getHttpURI().getPathQuery(),
              route == null ? null : route.name(),
              endpoint == null ? null : endpoint.backend(),
              clientStatus,
              backendStatus,
              clientLeftNanos < 0 ? null : Duration.ofNanos(clientLeftNanos),
              plan == null ? List.of() : plan.kinds,
              Instant.now(),
              copy(clientRequest.getHeaders(), headers),
              copy(clientResponse.getHeaders(), headers)),
          request.generation);
    }
    counters.ended(total.left());
  }
}
