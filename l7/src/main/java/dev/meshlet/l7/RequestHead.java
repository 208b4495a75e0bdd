package dev.meshlet.l7;

import dev.meshlet.core.PeerIdentity;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import org.jspecify.annotations.Nullable;

/**
 * What an {@link HttpRoute} looks at: the head of one request (method, target, host, headers), as
 * the proxy parsed it. The proxy hands routes a read-only view over the request it received; tests
 * make their own with {@link #builder(String, String)} to check routes without a server:
 *
 * <pre>{@code
 * RequestHead head = RequestHead.builder("GET", "/api/v1/users?id=7")
 *     .host("api.example.com")
 *     .header("X-Canary", "1")
 *     .build();
 * HttpRoute.Match m = proxy.routeFor(head);   // the route and cluster the proxy would use
 * }</pre>
 *
 * <p>Instances are immutable and safe to share between threads. Header names are looked up
 * case-insensitively; a header sent several times has several values, in the order received (values
 * are not split at commas).
 */
public sealed interface RequestHead permits HeadView {

  /**
   * A builder for a request head with {@code method} and {@code target}, the request target in
   * origin form (path and optional query, as on the request line: {@code "/a%20b?x=1"}).
   *
   * @throws IllegalArgumentException when the method is not an RFC 9110 token or the target does
   *     not start with {@code /}
   */
  static Builder builder(String method, String target) {
    return new Builder(method, target);
  }

  /** The method, exactly as received (methods are case-sensitive). */
  String method();

  /**
   * The decoded, normalized path routes match on, without the query: percent-encoded characters
   * decoded where that does not change the path's meaning and dot segments resolved, so {@code
   * /a/%62/../c} is {@code /a/c}; characters a path cannot hold literally stay encoded ({@code
   * %20}, and {@code %2F}, which is no separator).
   */
  String path();

  /** The path as received, still percent-encoded, without the query. */
  String rawPath();

  /** The query as received (after {@code ?}, still percent-encoded), or null when there is none. */
  @Nullable String rawQuery();

  /**
   * The host the request names (from its Host header or absolute target) without any port, or null.
   */
  @Nullable String host();

  /** The first value of header {@code name} (case-insensitive), or null when it is absent. */
  @Nullable String header(String name);

  /**
   * Every value of header {@code name} (case-insensitive), in the order received; empty when
   * absent.
   */
  List<String> headers(String name);

  /**
   * The first decoded value of query parameter {@code name} (case-sensitive; {@code +} and {@code
   * %20} are spaces), or null when it is absent.
   *
   * @throws IllegalArgumentException when the query is not valid UTF-8 once decoded
   */
  @Nullable String queryParam(String name);

  /**
   * Every decoded value of query parameter {@code name}, in order; empty when absent.
   *
   * @throws IllegalArgumentException when the query is not valid UTF-8 once decoded
   */
  List<String> queryParams(String name);

  /**
   * The identity in the client's verified TLS certificate, or null when the connection is plain or
   * the client showed none.
   */
  @Nullable PeerIdentity peer();

  /**
   * Collects a request head for tests and route checks; see {@link RequestHead#builder(String,
   * String)}.
   */
  final class Builder {
    private final String method;
    private final String target;
    private @Nullable String host;
    private final List<String> headers = new ArrayList<>();
    private @Nullable PeerIdentity peer;

    private Builder(String method, String target) {
      Objects.requireNonNull(method, "method");
      Objects.requireNonNull(target, "target");
      if (method.isEmpty() || !method.chars().allMatch(c -> Rfc.isTokenChar((char) c))) {
        throw new IllegalArgumentException(
            "method '" + method + "': expected an RFC 9110 token such as GET");
      }
      if (!target.startsWith("/")) {
        throw new IllegalArgumentException(
            "target '" + target + "': expected a path starting with /");
      }
      this.method = method;
      this.target = target;
    }

    /**
     * The host the request names, with an optional port ({@code "api.example.com:8443"}); sent as
     * its Host header. Default: the value of a {@code Host} header added with {@link #header}, else
     * none.
     */
    public Builder host(String host) {
      Objects.requireNonNull(host, "host");
      if (host.isBlank()) {
        throw new IllegalArgumentException("host: blank (expected: host or host:port)");
      }
      this.host = host;
      return this;
    }

    /** Adds a header; several calls with one name give it several values, in call order. */
    public Builder header(String name, String value) {
      Objects.requireNonNull(name, "name");
      Objects.requireNonNull(value, "value");
      if (name.isEmpty() || !name.chars().allMatch(c -> Rfc.isTokenChar((char) c))) {
        throw new IllegalArgumentException(
            "header name '" + name + "': expected an RFC 9110 token");
      }
      if (value.indexOf('\r') >= 0 || value.indexOf('\n') >= 0) {
        throw new IllegalArgumentException("header " + name + ": value has a line break");
      }
      headers.add(name);
      headers.add(value);
      return this;
    }

    /** The client's TLS identity, as a proxy with mutual TLS would have verified it. */
    public Builder peer(PeerIdentity peer) {
      this.peer = Objects.requireNonNull(peer, "peer");
      return this;
    }

    /**
     * The request head.
     *
     * @throws IllegalArgumentException when the target is not a valid path and query (bad
     *     percent-encoding, a path that climbs above {@code /}, a query that is not UTF-8) or the
     *     host is not a host or host:port
     */
    public RequestHead build() {
      return HeadView.of(method, target, host, headers, peer);
    }
  }
}
