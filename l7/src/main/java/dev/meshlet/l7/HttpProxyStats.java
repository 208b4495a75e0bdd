package dev.meshlet.l7;

import java.util.Map;
import java.util.Objects;

/**
 * A snapshot of an {@link HttpProxy}'s counters: for the whole proxy, per route (by
 * {@linkplain HttpRoute#name() name}) and per backend (by {@link dev.meshlet.core.Backend#displayName()}).
 *
 * <pre>{@code
 * HttpProxyStats s = proxy.stats();
 * long ok = s.routes().get("api").status2xx();
 * long timeouts = s.total().errors(HttpProxyStats.ErrorKind.GATEWAY_TIMEOUT);
 * }</pre>
 *
 * @param total    every request the proxy answered, including those rejected before routing
 * @param routes   requests that matched a route, by route name
 * @param backends requests forwarded to a backend, by backend display name
 */
public record HttpProxyStats(Counts total, Map<String, Counts> routes, Map<String, Counts> backends) {

  /** Copies the maps. */
  public HttpProxyStats {
    Objects.requireNonNull(total, "total");
    routes = Map.copyOf(routes);
    backends = Map.copyOf(backends);
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
    /** The route's cluster has no backend in service: 503. */
    NO_BACKEND(503),
    /** The backend did not begin its response within the response timeout: 504. */
    GATEWAY_TIMEOUT(504),
    /** The backend failed after its response began: the client connection was aborted. */
    UPSTREAM_ABORTED(0),
    /** The client went away before its response was complete: the upstream exchange was aborted. */
    CLIENT_ABORTED(0);

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
   * @param requests  requests started
   * @param inFlight  requests started and not yet finished
   * @param status1xx final responses by status class, whether from a backend or from the proxy
   * @param status2xx see {@code status1xx}
   * @param status3xx see {@code status1xx}
   * @param status4xx see {@code status1xx}
   * @param status5xx see {@code status1xx}
   * @param errors    errors by kind (kinds never seen are absent)
   * @param bytesIn   request body bytes received from clients
   * @param bytesOut  response body bytes sent to clients
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
      long bytesOut) {

    /** Copies the error map. */
    public Counts {
      errors = Map.copyOf(errors);
    }

    /** The count for one error kind, 0 if never seen. */
    public long errors(ErrorKind kind) {
      Long n = errors.get(kind);
      return n == null ? 0 : n;
    }
  }
}
