package dev.meshlet.l7;

import dev.meshlet.core.Backend;
import dev.meshlet.core.Endpoint;
import dev.meshlet.core.internal.JournalWriter;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.eclipse.jetty.http.HttpField;
import org.eclipse.jetty.http.HttpFields;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.jspecify.annotations.Nullable;
import org.slf4j.ILoggerFactory;
import org.slf4j.LoggerFactory;
import org.slf4j.helpers.NOPLoggerFactory;

/**
 * Where every request is written down: its number, the faults applied to it and, when it ends, its
 * counts, its access log line and its journal entry. The one writer of the journal.
 */
final class Ledger {
  /** Set once the missing-binding warning has been given, so a JVM gives it once. */
  private static final AtomicBoolean WARNED_NO_BINDING = new AtomicBoolean();

  private final ProxyCounters counters;
  private final JournalWriter<HttpEvent> journal;
  private final @Nullable AccessLogWriter accessLog;
  private final @Nullable HeaderCapture headers;
  private final AtomicLong requestIds = new AtomicLong();

  /**
   * {@code accessLog} writes the access log lines on a thread of its own (never the network
   * threads), null for none; {@code headers} says which headers the journal keeps, null for none.
   */
  Ledger(
      ProxyCounters counters,
      JournalWriter<HttpEvent> journal,
      @Nullable AccessLogWriter accessLog,
      @Nullable HeaderCapture headers) {
    this.counters = counters;
    this.journal = journal;
    this.accessLog = accessLog;
    this.headers = headers;
    if (accessLog != null) {
      warnIfSwallowed(LoggerFactory.getILoggerFactory(), WARNED_NO_BINDING);
    }
  }

  /** Writes the access log lines still queued and stops its thread. */
  void close() {
    AccessLogWriter log = accessLog;
    if (log != null) {
      log.close();
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
    System.getLogger(AccessLogWriter.ACCESS_LOG.getName())
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
   * @param cluster the name of the cluster it was sent to; null when it was not
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
      @Nullable String cluster,
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
    AccessLogWriter log = accessLog;
    if (log != null && AccessLogWriter.ACCESS_LOG.isInfoEnabled()) {
      long totalNanos = System.nanoTime() - startNanos;
      log.offer(
          new AccessLogWriter.Line(
              Instant.now().minusNanos(totalNanos),
              Request.getRemoteAddr(clientRequest),
              clientRequest.getMethod(),
              clientRequest.getHttpURI().getPathQuery(),
              status,
              route == null ? null : route.name(),
              cluster,
              endpoint == null ? null : endpoint.backend().displayName(),
              serverHeadMicros,
              totalNanos / 1000,
              in,
              out,
              request.tries(),
              plan == null ? List.of() : plan.kinds,
              request.requestId,
              request.traceId,
              kind));
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
              copy(clientResponse.getHeaders(), headers),
              request.requestId,
              request.traceId,
              kind),
          request.generation);
    }
    counters.ended(total.left());
  }
}
