package dev.meshlet.l7;

import dev.meshlet.core.Backend;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import org.jspecify.annotations.Nullable;

/**
 * What an {@link HttpProxy} records in its {@linkplain HttpProxy#journal() journal}. Requests are
 * numbered from 1 in the order they arrive.
 *
 * <pre>{@code
 * List<HttpEvent.Completed> done = proxy.awaitRequests(3, Duration.ofSeconds(5)); // waits for 3 to end
 * List<HttpEvent.FaultApplied> faults = proxy.journal().entries(HttpEvent.FaultApplied.class);
 * List<HttpEvent.Forwarded> tries = proxy.journal().entries(HttpEvent.Forwarded.class);
 * }</pre>
 *
 * <p>Headers are kept only when {@link HttpProxyBuilder#journalHeaders(HeaderCapture)} asks for
 * them: then each try is journaled as a {@link Forwarded} entry with the headers it sent, and a
 * {@link Completed} entry holds the request's headers as received and the response's as sent.
 *
 * <p>A {@link Completed} entry is recorded as the exchange ends on the proxy, which can be a moment
 * after the client has read the response; wait for it with {@link HttpProxy#awaitRequests}. After
 * the journal is cleared, nothing is recorded about a request that arrived before.
 *
 * <p>Made by meshlet for users to read, not to build: the canonical constructors of its records are
 * not part of the supported API and may gain components in a minor release (new components are
 * added last); read them through the accessors.
 */
public sealed interface HttpEvent {

  /** The request this entry is about. */
  long request();

  /** When it was recorded. */
  Instant at();

  /**
   * A fault was drawn for a request and applies to it.
   *
   * @param request the request number
   * @param route the route whose fault it is
   * @param fault the fault
   * @param at when
   */
  record FaultApplied(long request, String route, HttpFault fault, Instant at)
      implements HttpEvent {}

  /**
   * A try of a request was sent to a backend, with the head it sent (after the proxy's header rules
   * and rewrites). Journaled only when the proxy keeps headers ({@link
   * HttpProxyBuilder#journalHeaders(HeaderCapture)}); a retried request has one entry per try,
   * which is how a test sees that a retry re-sent the same {@code Idempotency-Key}.
   *
   * @param request the request number
   * @param attempt which try this was, from 1
   * @param backend the backend it went to
   * @param method the method sent
   * @param target the path and query sent
   * @param headers the headers sent, as kept
   * @param at when
   */
  record Forwarded(
      long request,
      int attempt,
      Backend backend,
      String method,
      String target,
      RecordedHeaders headers,
      Instant at)
      implements HttpEvent {}

  /**
   * A request ended. What the client got and what the backend answered are told apart: a client
   * that left before its response was written whole got no status ({@code status} 0, {@code
   * clientLeftAfter} set), whatever the backend answered later ({@code backendStatus}).
   *
   * <pre>{@code
   * HttpEvent.Completed done = proxy.awaitRequests(1, Duration.ofSeconds(5)).get(0);
   * if (done.clientLeft()) { ... done.clientLeftAfter() ... done.backendStatus() ... }
   * }</pre>
   *
   * @param request the request number
   * @param method its method
   * @param path its path and query as received
   * @param route the route that matched, or null
   * @param backend the backend it went to, or null (no route, an abort fault, no backend)
   * @param status the status the client got: the backend's forwarded or the proxy's own; 0 when
   *     none reached it (the exchange was cut, or the client left first)
   * @param backendStatus the status the backend (of the last try) answered, or 0 when none answered
   * @param clientLeftAfter when the client was seen leaving (closing, resetting, or failing a
   *     write), counted from the request's arrival; null when it stayed to the end
   * @param faults the kinds of the faults applied ({@code "Abort"}, {@code "Delay"}, …), in route
   *     order
   * @param at when
   * @param requestHeaders the client's request headers as received, as kept; none unless the proxy
   *     keeps headers
   * @param responseHeaders the response headers the client was sent (the backend's after the
   *     proxy's rules, or those of the proxy's own answer), as kept; none unless the proxy keeps
   *     headers
   * @param requestId the {@code X-Request-ID} it was forwarded with (the client's, or the one the
   *     proxy made); null when it was never forwarded
   * @param traceId the trace id of its W3C {@code traceparent}, as forwarded; null when it had no
   *     valid one (and the proxy made none)
   * @param error what the request was counted as when it failed (a backend's TLS handshake, a
   *     timeout, a peer not allowed, …), or null when it did not
   */
  record Completed(
      long request,
      String method,
      String path,
      @Nullable String route,
      @Nullable Backend backend,
      int status,
      int backendStatus,
      @Nullable Duration clientLeftAfter,
      List<String> faults,
      Instant at,
      RecordedHeaders requestHeaders,
      RecordedHeaders responseHeaders,
      @Nullable String requestId,
      @Nullable String traceId,
      HttpProxyStats.@Nullable ErrorKind error)
      implements HttpEvent {
    /** Copies the fault list. */
    public Completed {
      faults = List.copyOf(faults);
    }

    /**
     * Whether the client left before its response was written whole ({@link #clientLeftAfter()} is
     * set).
     */
    public boolean clientLeft() {
      return clientLeftAfter != null;
    }
  }
}
