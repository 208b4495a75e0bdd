package dev.meshlet.l7;

import dev.meshlet.core.ClusterStats;
import dev.meshlet.core.Histogram;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;

/**
 * A snapshot of an {@link HttpProxy}'s counters: for the whole proxy, per route (by {@linkplain
 * HttpRoute#name() name}) and per backend (by {@link dev.meshlet.core.Backend#displayName()}).
 *
 * <pre>{@code
 * HttpProxyStats s = proxy.stats();
 * long ok = s.routes().get("api").status2xx();
 * long timeouts = s.total().errors(HttpProxyStats.ErrorKind.GATEWAY_TIMEOUT);
 * }</pre>
 *
 * <p>Made by meshlet for users to read, not to build: the canonical constructor is not part of the
 * supported API and may gain components in a minor release (new components are added last); read it
 * through the accessors.
 *
 * @param total every request the proxy answered, including those rejected before routing
 * @param routes requests that matched a route, by route name
 * @param backends requests forwarded to a backend, by backend display name
 * @param retries retries made and refused, by reason
 * @param draining whether the proxy is closing: it accepts no more connections and lets the {@code
 *     total().inFlight()} requests finish within its drain timeout
 * @param clusters the clusters the current routes reach, by name: circuit breakers, retry budget,
 *     and each backend's health, ejection and weight ({@code
 *     clusters().get("web").backends().get("b").healthy()})
 * @param buffering the request bodies the proxy reads whole before it sends them
 * @param accessLogDropped access log lines dropped because the queue of lines to write was full
 *     ({@link AccessLog#queueSize()})
 * @param connections the listener's client connections: accepted, open now and closed
 */
public record HttpProxyStats(
    Counts total,
    Map<String, Counts> routes,
    Map<String, Counts> backends,
    Retries retries,
    boolean draining,
    Map<String, ClusterStats> clusters,
    Buffering buffering,
    long accessLogDropped,
    Connections connections) {

  /** Copies the maps. */
  public HttpProxyStats {
    Objects.requireNonNull(total, "total");
    Objects.requireNonNull(buffering, "buffering");
    Objects.requireNonNull(retries, "retries");
    Objects.requireNonNull(connections, "connections");
    routes = Map.copyOf(routes);
    backends = Map.copyOf(backends);
    clusters = Collections.unmodifiableMap(new LinkedHashMap<>(clusters));
  }

  /**
   * The listener's client connections, counted once per TCP connection whatever it carries (TLS,
   * HTTP/1.1 keep-alive, an upgraded tunnel), as Envoy's {@code downstream_cx_*}. At {@link
   * HttpProxyBuilder#maxConnections(int)} the proxy stops accepting, so {@code active} stays at or
   * under that limit.
   *
   * @param accepted client connections accepted since the proxy started
   * @param active client connections open now ({@code accepted - closed})
   * @param closed client connections closed, by either side or by the proxy's close
   */
  public record Connections(long accepted, long active, long closed) {}

  /**
   * Request bodies read whole before they are sent ({@code HttpProxyBuilder.requestBufferSize}).
   *
   * @param bytesHeld the bytes all buffered bodies hold now, within {@code
   *     HttpProxyBuilder.requestBufferBudget}
   * @param budgetFallbacks bodies that streamed because that budget was spent
   */
  public record Buffering(long bytesHeld, long budgetFallbacks) {}

  /** Why a request was tried again. */
  public enum RetryReason {
    /** Connecting to the backend failed (refused, unreachable, connect timeout). */
    CONNECT_FAILURE,
    /** The backend reset or closed the connection before a response began. */
    RESET,
    /**
     * A reused pooled connection turned out closed by the backend (keep-alive race); always
     * retried.
     */
    STALE_CONNECTION,
    /** The try's response did not begin within the per-try timeout. */
    PER_TRY_TIMEOUT,
    /** The backend answered a status the policy retries (502, 503, 504 by default). */
    STATUS,
    /**
     * The backend's response head carried a gRPC status the policy retries ({@code
     * RetryPolicy.Builder.retryOnGrpcStatus}): a Trailers-Only response.
     */
    GRPC_STATUS
  }

  /**
   * Retries of the whole proxy.
   *
   * @param byReason retries made, by reason (reasons never seen are absent)
   * @param budgetExhausted retries refused because the retry budget (of the route's cluster) was
   *     spent
   * @param notReplayable retries refused because the request body was larger than the replay buffer
   *     (for the stale-connection retry: more than 64 KiB of it was sent)
   */
  public record Retries(Map<RetryReason, Long> byReason, long budgetExhausted, long notReplayable) {
    /** Copies the map. */
    public Retries {
      byReason = Map.copyOf(byReason);
    }

    /** Retries made for {@code reason}, 0 if none. */
    public long count(RetryReason reason) {
      Long n = byReason.get(reason);
      return n == null ? 0 : n;
    }

    /** Retries made in all. */
    public long total() {
      long t = 0;
      for (long n : byReason.values()) {
        t += n;
      }
      return t;
    }
  }

  /** Why the proxy itself answered with an error or gave up on an exchange. */
  public enum ErrorKind {
    /** Malformed or ambiguous request (framing, headers, body): 400, connection closed. */
    BAD_REQUEST(400),
    /** No route matched and there is no default route: 404. */
    NO_ROUTE(404),
    /** CONNECT or another method the proxy will not forward: 405. */
    METHOD_NOT_ALLOWED(405),
    /** The request head did not arrive within the request-head timeout: 408. */
    REQUEST_TIMEOUT(408),
    /** The request target is longer than the URI limit: 414. */
    URI_TOO_LONG(414),
    /** The request head is larger than the header size limit: 431. */
    HEADERS_TOO_LARGE(431),
    /** The backend refused, reset or answered garbage before a response began: 502. */
    BAD_GATEWAY(502),
    /**
     * The backend's host name did not resolve: 502 naming the backend in the short body. Logged
     * once per backend until a connection to it succeeds again, not once per request.
     */
    UNRESOLVED_BACKEND(502),
    /** The route's cluster has no backend in service: 503. */
    NO_BACKEND(503),
    /**
     * The cluster's circuit breaker ({@code Cluster.Builder.maxActive}) refused the request: 503
     * with {@code X-Meshlet-Overflow: cluster NAME max requests}.
     */
    OVERFLOW(503),
    /**
     * Too many requests were waiting for a backend connection: the cluster's pending circuit
     * breaker ({@code Cluster.Builder.maxPending}, 503 with {@code X-Meshlet-Overflow: cluster NAME
     * max pending requests}) or a backend's queue ({@link
     * HttpProxyBuilder#maxPendingRequestsPerBackend(int)}, 503 with {@code X-Meshlet-Overflow:
     * backend NAME max pending requests}).
     */
    PENDING_OVERFLOW(503),
    /** The backend did not begin its response within the response timeout: 504. */
    GATEWAY_TIMEOUT(504),
    /** The backend failed after its response began: the client connection was aborted. */
    UPSTREAM_ABORTED(0),
    /** The client went away before its response was complete: the proxy request was aborted. */
    CLIENT_ABORTED(0),
    /**
     * Not a request: the proxy reached {@link HttpProxyBuilder#maxConnections(int)} and stopped
     * accepting connections until one closed; counted each time.
     */
    CONNECTION_LIMIT(0),
    /**
     * Not a request: accepting client connections failed, usually because the process ran out of
     * file descriptors; counted and logged once per episode (until an accept succeeds again). The
     * acceptor retries after 10 ms, backing off to 200 ms, so it neither spins nor stays away long
     * once descriptors are free again.
     */
    ACCEPT_FAILED(0),
    /**
     * Not a request: an HTTP/2 client sent more control frames (resets, SETTINGS, PING, empty
     * frames) than {@link Http2Limits#maxControlFramesPerSecond()} allows, as the rapid reset and
     * flood attacks do; its connection was closed with {@code GOAWAY ENHANCE_YOUR_CALM}. Counted
     * per connection, logged once.
     */
    H2_FLOOD(0),
    /**
     * Not a request: an HTTP/2 client broke the protocol (a malformed frame, a header block over
     * {@link Http2Limits#maxHeaderListSize()} however many CONTINUATION frames carry it, a bad
     * preface); its connection was closed with a {@code GOAWAY} naming the error. Counted per
     * connection, logged once.
     */
    H2_PROTOCOL(0),
    /**
     * An HTTP/2 client opened a stream past {@link Http2Limits#maxConcurrentStreams()}: it was
     * refused ({@code RST_STREAM REFUSED_STREAM}, which a client may retry), nothing forwarded, the
     * connection kept. Counted per stream, logged once.
     */
    H2_STREAM_REFUSED(0),
    /**
     * The proxy could not open a socket to the backend because the process ran out of file
     * descriptors (EMFILE or ENFILE): 503 with {@code X-Meshlet-Overflow: proxy out of file
     * descriptors}, logged once per episode (until a connection to a backend opens again); not held
     * against the backend.
     */
    OUT_OF_FILE_DESCRIPTORS(503),
    /**
     * The TLS handshake with the backend failed (a certificate that is expired, untrusted or does
     * not name the backend, or no common protocol): 502 whose short body names the backend and the
     * reason, also in the journal; logged once per backend until a handshake succeeds again;
     * counted against the backend.
     */
    BACKEND_TLS(502),
    /**
     * The route allows only some TLS peers ({@link HttpRouteBuilder#allowPeers(String...)}) and the
     * client's certificate named none of them, or it sent none: 403, nothing forwarded.
     */
    PEER_NOT_ALLOWED(403),
    /**
     * Not a request: {@link HttpProxyBuilder#proxyProtocolIn(String...) proxyProtocolIn} is on and
     * a connection did not begin with a PROXY protocol header, or came from an address that is no
     * trusted front; it was closed, nothing forwarded.
     */
    PROXY_HEADER(0);

    private final int status;

    ErrorKind(int status) {
      this.status = status;
    }

    /** The status the proxy answers with, or 0 when the connection is aborted instead. */
    public int status() {
      return status;
    }
  }

  /**
   * Counters for one scope (the proxy, a route or a backend).
   *
   * @param requests requests started
   * @param inFlight requests started and not yet finished
   * @param status1xx final responses by status class, whether from a backend or from the proxy
   * @param status2xx see {@code status1xx}
   * @param status3xx see {@code status1xx}
   * @param status4xx see {@code status1xx}
   * @param status5xx see {@code status1xx}
   * @param errors errors by kind (kinds never seen are absent)
   * @param bytesIn request body bytes received from clients
   * @param bytesOut response body bytes sent to clients
   * @param upstreamTime per request that reached a backend, the time from sending it to the
   *     backend's response head (Envoy's {@code upstream_rq_time}); the last try's when retried
   * @param totalTime per request, the time from its arrival to its end (Envoy's {@code
   *     downstream_rq_time})
   * @param faultsApplied faults ({@link HttpFault}) applied to requests, one per fault and request
   * @param statusCodes final responses by status code, as {@code status1xx} counts them by class
   *     (codes never seen are absent), in ascending order
   */
  public record Counts(
      long requests,
      long inFlight,
      long status1xx,
      long status2xx,
      long status3xx,
      long status4xx,
      long status5xx,
      Map<ErrorKind, Long> errors,
      long bytesIn,
      long bytesOut,
      Histogram upstreamTime,
      Histogram totalTime,
      long faultsApplied,
      Map<Integer, Long> statusCodes) {

    /** Copies the maps. */
    public Counts {
      errors = Map.copyOf(errors);
      statusCodes = Collections.unmodifiableMap(new TreeMap<>(statusCodes));
      Objects.requireNonNull(upstreamTime, "upstreamTime");
      Objects.requireNonNull(totalTime, "totalTime");
    }

    /** The count for one error kind, 0 if never seen. */
    public long errors(ErrorKind kind) {
      Long n = errors.get(kind);
      return n == null ? 0 : n;
    }
  }
}
