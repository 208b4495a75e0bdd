package dev.meshlet.l7;

import dev.meshlet.core.Cluster;
import dev.meshlet.core.PeerIdentity;
import dev.meshlet.core.internal.Checks;
import dev.meshlet.l4.Toxic;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.function.Consumer;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;
import org.jspecify.annotations.Nullable;

/**
 * Collects a route's conditions, target and rewrites. Every condition added must hold for the route
 * to match; a route with no condition matches every request.
 */
public final class HttpRouteBuilder {
  final List<RequestMatcher> matchers = new ArrayList<>();
  final List<Cluster> clusters = new ArrayList<>();
  final List<Integer> weights = new ArrayList<>();
  @Nullable String name;
  @Nullable PathRewrite pathRewrite;
  @Nullable String hostRewrite;
  final HeaderOps.Collector requestHeaders = new HeaderOps.Collector("request");
  final HeaderOps.Collector responseHeaders = new HeaderOps.Collector("response");
  boolean targetSet;
  final List<HttpFault> faults = new ArrayList<>();
  @Nullable RetryPolicy retryPolicy;
  @Nullable Duration requestTimeout;
  @Nullable Duration responseTimeout;
  @Nullable Duration connectTimeout;
  @Nullable Duration idleTimeout;
  Duration grpcTimeoutOffset = Duration.ZERO;
  Set<String> upgrades = Upgrades.DEFAULT_ALLOWED;
  final Map<String, Toxic> tunnelToxics = new LinkedHashMap<>();
  @Nullable Set<String> allowedPeers;

  HttpRouteBuilder() {}

  /**
   * Retries for this route's requests, instead of the proxy's {@linkplain
   * HttpProxyBuilder#retryPolicy(RetryPolicy) default}; {@link RetryPolicy#none()} turns them off
   * here.
   */
  public HttpRouteBuilder retryPolicy(RetryPolicy policy) {
    this.retryPolicy = Objects.requireNonNull(policy, "policy");
    return this;
  }

  /**
   * The whole-request timeout for this route, from the request's arrival to the end of its
   * response, retries and backoffs included: the client gets 504 if no response began, otherwise
   * its connection is aborted. Default: the proxy's {@link
   * HttpProxyBuilder#requestTimeout(Duration)}.
   */
  public HttpRouteBuilder requestTimeout(Duration d) {
    this.requestTimeout = Checks.positive("requestTimeout", d);
    return this;
  }

  /**
   * Taken off a gRPC call's {@code grpc-timeout} before it becomes the call's deadline (Envoy's
   * {@code grpc_timeout_header_offset}), so that the proxy's DEADLINE_EXCEEDED, which says where
   * the time went, reaches the client before its own deadline passes; a deadline it would leave at
   * zero or less is then 1 ms. Default zero. See {@link HttpProxy} on gRPC.
   */
  public HttpRouteBuilder grpcTimeoutOffset(Duration d) {
    this.grpcTimeoutOffset = Checks.notNegative("grpcTimeoutOffset", d);
    return this;
  }

  /**
   * How long one try may wait for the backend's response to begin (504 or a retry after); default
   * the retry policy's per-try timeout, else the proxy's {@link
   * HttpProxyBuilder#responseTimeout(Duration)}.
   */
  public HttpRouteBuilder responseTimeout(Duration d) {
    this.responseTimeout = Checks.positive("responseTimeout", d);
    return this;
  }

  /**
   * How long a try may wait for a connection to the backend (connecting, or queued for a pooled
   * one) before it fails as a connect failure; default the proxy's {@link
   * HttpProxyBuilder#connectTimeout(Duration)}, which bounds connecting only.
   */
  public HttpRouteBuilder connectTimeout(Duration d) {
    this.connectTimeout = Checks.positive("connectTimeout", d);
    return this;
  }

  /**
   * How long this route's exchange with the backend may stay silent (no byte either way) before it
   * fails; default the longer of the proxy's {@link HttpProxyBuilder#upstreamIdleTimeout(Duration)}
   * and the try's response timeout plus 1 s. Set here, it applies as it is: shorter than the
   * response timeout, it ends a silent exchange first (with 504).
   */
  public HttpRouteBuilder idleTimeout(Duration d) {
    this.idleTimeout = Checks.positive("idleTimeout", d);
    return this;
  }

  /**
   * The {@code Upgrade} protocols this route forwards as upgrades: the backend's {@code 101} turns
   * the connection into a tunnel of bytes both ways; default {@code websocket}. A request for any
   * other upgrade is forwarded as a plain request without its {@code Upgrade}. None given: no
   * upgrades.
   */
  public HttpRouteBuilder upgrades(String... protocols) {
    this.upgrades = Upgrades.allowed(protocols);
    return this;
  }

  /**
   * Applies an L4 {@code toxic} to this route's upgraded connections (WebSocket tunnels), as a
   * {@code TcpProxy} applies it to its TCP connections: {@link Toxic.Direction#UPSTREAM upstream}
   * is client to backend. Installed under {@code name} when the route's first tunnel opens; change
   * them at runtime with {@link HttpProxy#tunnelToxics(String)}. None by default.
   *
   * <pre>{@code
   * r.name("ws").to(cluster).tunnelToxic("lag", Toxic.latency(Duration.ofMillis(50)).downstream());
   * }</pre>
   *
   * @throws IllegalArgumentException if a tunnel toxic of that name is given already
   */
  public HttpRouteBuilder tunnelToxic(String name, Toxic toxic) {
    Objects.requireNonNull(name, "name");
    Objects.requireNonNull(toxic, "toxic");
    if (tunnelToxics.putIfAbsent(name, toxic) != null) {
      throw new IllegalArgumentException(
          "tunnelToxic: '" + name + "' given twice (expected: one toxic per name)");
    }
    return this;
  }

  /**
   * Injects {@code fault} into this route's requests (for the share its {@linkplain
   * HttpFault#toxicity() toxicity} gives, and only when its header is present if it names one).
   * Several faults are drawn independently; an abort wins.
   */
  public HttpRouteBuilder fault(HttpFault fault) {
    faults.add(Objects.requireNonNull(fault, "fault"));
    return this;
  }

  /** The route's name in stats and logs; default {@code route-N}, N its position from 1. */
  public HttpRouteBuilder name(String name) {
    Objects.requireNonNull(name, "name");
    if (name.isBlank()) {
      throw new IllegalArgumentException("route name: blank (expected: a name such as \"api\")");
    }
    this.name = name;
    return this;
  }

  /** Matches paths starting with {@code prefix}, e.g. {@code "/api/"}. */
  public HttpRouteBuilder pathPrefix(String prefix) {
    matchers.add(new RequestMatcher.PathPrefix(checkPath("pathPrefix", prefix)));
    return this;
  }

  /** Matches exactly this path (the query string is not part of it). */
  public HttpRouteBuilder path(String path) {
    matchers.add(new RequestMatcher.PathExact(checkPath("path", path)));
    return this;
  }

  /** Matches paths the regular expression matches entirely, e.g. {@code "/users/[0-9]+"}. */
  public HttpRouteBuilder pathRegex(String regex) {
    matchers.add(new RequestMatcher.PathRegex(compile("pathRegex", regex)));
    return this;
  }

  /**
   * Matches the request's host, case-insensitively and ignoring any port: exactly ({@code
   * "admin.example.com"}) or by wildcard ({@code "*.example.com"} matches {@code a.example.com} and
   * {@code a.b.example.com}, not {@code example.com}).
   */
  public HttpRouteBuilder host(String host) {
    Objects.requireNonNull(host, "host");
    String h = host.strip();
    if (h.isEmpty() || h.indexOf('*', 1) >= 0 || (h.startsWith("*") && !h.startsWith("*."))) {
      throw new IllegalArgumentException(
          "host '" + host + "': expected a host name or a wildcard such as *.example.com");
    }
    matchers.add(
        h.startsWith("*.")
            ? new RequestMatcher.Host(h.substring(1), true)
            : new RequestMatcher.Host(h, false));
    return this;
  }

  /** Matches when a header named {@code name} has exactly {@code value}. */
  public HttpRouteBuilder header(String name, String value) {
    matchers.add(
        new RequestMatcher.Header(checkName(name), Objects.requireNonNull(value, "value")));
    return this;
  }

  /** Matches when a header named {@code name} is present, with any value. */
  public HttpRouteBuilder headerPresent(String name) {
    matchers.add(new RequestMatcher.HeaderPresent(checkName(name)));
    return this;
  }

  /** Matches when a value of header {@code name} matches {@code regex} entirely. */
  public HttpRouteBuilder headerRegex(String name, String regex) {
    matchers.add(new RequestMatcher.HeaderRegex(checkName(name), compile("headerRegex", regex)));
    return this;
  }

  /** Matches any of the given methods (case-insensitive when configured, exact on the wire). */
  public HttpRouteBuilder method(String... methods) {
    matchers.add(RequestMatcher.Method.of(methods));
    return this;
  }

  /**
   * Matches when the query string has parameter {@code name} with (decoded) value {@code value}.
   */
  public HttpRouteBuilder queryParam(String name, String value) {
    Objects.requireNonNull(name, "name");
    Objects.requireNonNull(value, "value");
    if (name.isEmpty()) {
      throw new IllegalArgumentException("queryParam name: empty");
    }
    matchers.add(new RequestMatcher.QueryParam(name, value));
    return this;
  }

  /**
   * Matches requests whose client showed a verified TLS certificate naming one of {@code
   * identities}: a SPIFFE ID ({@code spiffe://cluster.local/ns/default/sa/web}), a URI or DNS name,
   * or the subject ({@code CN=web,O=example}); see {@link PeerIdentity#matches(String)}. Needs a
   * listener with client certificates ({@link HttpProxyBuilder#tls}).
   */
  public HttpRouteBuilder peer(String... identities) {
    matchers.add(new RequestMatcher.Peer(RequestMatcher.Peer.names("peer", identities)));
    return this;
  }

  /**
   * Authorizes this route's requests: only a client whose verified certificate names one of {@code
   * identities} (as {@link #peer(String...)} reads them) is forwarded; any other, or one without a
   * certificate, gets 403 and nothing reaches a backend ({@link
   * HttpProxyStats.ErrorKind#PEER_NOT_ALLOWED}). Default: every client is.
   */
  public HttpRouteBuilder allowPeers(String... identities) {
    this.allowedPeers = RequestMatcher.Peer.names("allowPeers", identities);
    return this;
  }

  /** Sends matching requests to {@code cluster}, balanced by the cluster's own balancer. */
  public HttpRouteBuilder to(Cluster cluster) {
    Objects.requireNonNull(cluster, "cluster");
    checkTarget();
    clusters.add(cluster);
    weights.add(1);
    return this;
  }

  /** Splits matching requests over several clusters by weight, e.g. a 90/10 canary. */
  public HttpRouteBuilder split(Consumer<HttpRoute.Split> spec) {
    Objects.requireNonNull(spec, "spec");
    checkTarget();
    HttpRoute.Split s = new HttpRoute.Split();
    spec.accept(s);
    if (s.clusters.isEmpty()) {
      throw new IllegalArgumentException(
          "split: no cluster (expected: s -> s.to(a, 90).to(b, 10))");
    }
    clusters.addAll(s.clusters);
    weights.addAll(s.weights);
    return this;
  }

  /**
   * Replaces a leading {@code from} of the path with {@code to}: {@code /v1/x} → {@code /api/v1/x}.
   */
  public HttpRouteBuilder rewritePathPrefix(String from, String to) {
    checkRewrite();
    pathRewrite =
        new PathRewrite.Prefix(
            checkPath("rewritePathPrefix from", from), checkPath("rewritePathPrefix to", to));
    return this;
  }

  /**
   * Replaces every match of {@code regex} in the raw path with {@code replacement} ({@code $1}
   * refers to groups), e.g. {@code ("^/users/([0-9]+)$", "/u/$1")}.
   */
  public HttpRouteBuilder rewritePathRegex(String regex, String replacement) {
    checkRewrite();
    Objects.requireNonNull(replacement, "replacement");
    Pattern p = compile("rewritePathRegex", regex);
    try {
      p.matcher("").replaceAll(replacement);
    } catch (IllegalArgumentException | IndexOutOfBoundsException e) {
      throw new IllegalArgumentException(
          "rewritePathRegex replacement '" + replacement + "': " + e.getMessage(), e);
    }
    pathRewrite = new PathRewrite.Regex(p, replacement);
    return this;
  }

  /** Sends {@code Host: host} upstream instead of the client's Host. */
  public HttpRouteBuilder rewriteHost(String host) {
    Objects.requireNonNull(host, "host");
    if (host.isBlank() || host.chars().anyMatch(c -> c <= ' ' || c == '/' || c == '@' || c > 126)) {
      throw new IllegalArgumentException("rewriteHost '" + host + "': expected host or host:port");
    }
    hostRewrite = host;
    return this;
  }

  /** Adds a request header (keeping any the client sent). */
  public HttpRouteBuilder addRequestHeader(String name, String value) {
    requestHeaders.add(HeaderOps.Kind.ADD, name, value);
    return this;
  }

  /** Sets a request header, replacing any the client sent. */
  public HttpRouteBuilder setRequestHeader(String name, String value) {
    requestHeaders.add(HeaderOps.Kind.SET, name, value);
    return this;
  }

  /** Removes a request header; {@code "X-Internal-*"} removes every header with that prefix. */
  public HttpRouteBuilder removeRequestHeader(String name) {
    requestHeaders.remove(name);
    return this;
  }

  /** Adds a response header (keeping any the backend sent). */
  public HttpRouteBuilder addResponseHeader(String name, String value) {
    responseHeaders.add(HeaderOps.Kind.ADD, name, value);
    return this;
  }

  /** Sets a response header, replacing any the backend sent. */
  public HttpRouteBuilder setResponseHeader(String name, String value) {
    responseHeaders.add(HeaderOps.Kind.SET, name, value);
    return this;
  }

  /** Removes a response header; {@code "X-Internal-*"} removes every header with that prefix. */
  public HttpRouteBuilder removeResponseHeader(String name) {
    responseHeaders.remove(name);
    return this;
  }

  HttpRoute build(String defaultName) {
    if (clusters.isEmpty()) {
      throw new IllegalArgumentException(
          "route "
              + (name != null ? name : defaultName)
              + ": no target (expected: .to(cluster) or .split(...))");
    }
    return new HttpRoute(this, name != null ? name : defaultName);
  }

  void checkTarget() {
    if (targetSet) {
      throw new IllegalArgumentException(
          "route"
              + (name != null ? " " + name : "")
              + ": target set twice (expected: one .to(cluster) or one .split(...))");
    }
    targetSet = true;
  }

  void checkRewrite() {
    if (pathRewrite != null) {
      throw new IllegalArgumentException(
          "route: path rewrite set twice (expected: one rewritePathPrefix or rewritePathRegex)");
    }
  }

  private static String checkPath(String what, String path) {
    Objects.requireNonNull(path, what);
    if (!path.startsWith("/")) {
      throw new IllegalArgumentException(what + " '" + path + "': expected a path starting with /");
    }
    return path;
  }

  private static String checkName(String name) {
    Objects.requireNonNull(name, "name");
    if (name.isEmpty() || !name.chars().allMatch(c -> Rfc.isTokenChar((char) c))) {
      throw new IllegalArgumentException("header name '" + name + "': expected an RFC 9110 token");
    }
    return name;
  }

  private static Pattern compile(String what, String regex) {
    Objects.requireNonNull(regex, what);
    try {
      return Pattern.compile(regex);
    } catch (PatternSyntaxException e) {
      throw new IllegalArgumentException(what + " '" + regex + "': " + e.getDescription(), e);
    }
  }
}
