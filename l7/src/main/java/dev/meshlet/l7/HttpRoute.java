package dev.meshlet.l7;

import dev.meshlet.core.Cluster;
import dev.meshlet.core.PeerIdentity;
import dev.meshlet.core.Route;
import dev.meshlet.core.internal.Checks;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;
import java.util.function.Consumer;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;
import org.jspecify.annotations.Nullable;

/**
 * One entry of an {@link HttpProxy}'s routing table: conditions on the request (all must hold), the
 * cluster or weighted split of clusters that serves it, and the rewrites applied on the way.
 *
 * <p>Routes are built inside {@link HttpProxyBuilder#route(Consumer)}:
 *
 * <pre>{@code
 * HttpProxy.builder()
 *     .route(r -> r.name("api").pathPrefix("/v1/").method("GET", "POST")
 *         .rewritePathPrefix("/v1/", "/api/v1/")
 *         .setResponseHeader("Strict-Transport-Security", "max-age=31536000")
 *         .to(apiCluster))
 *     .route(r -> r.host("*.example.com").split(s -> s.to(stable, 90).to(canary, 10)))
 * }</pre>
 *
 * <p>Routes look at a {@link RequestHead}, meshlet's view of a request's head, so they can be
 * checked without a server: {@link #select(RequestHead)} for one route, {@link HttpProxy#routeFor}
 * for a proxy's whole table. Paths are matched against the decoded, normalized path ({@code /a/%62}
 * matches {@code /a/b}); the request target is forwarded as received unless a rewrite applies.
 */
public final class HttpRoute implements Route<RequestHead> {

  private final String name;
  private final RequestMatcher[] matchers;
  private final Cluster[] clusters;
  private final int[] cumulativeWeights;
  private final @Nullable PathRewrite pathRewrite;
  private final @Nullable String hostRewrite;
  private final HeaderOps requestHeaders;
  private final HeaderOps responseHeaders;

  /**
   * Usually none; their live state (counts, draws) is the route table's, in {@link RouteFaults}.
   */
  private final HttpFault[] faults;

  /** Retries and timeouts; null means the proxy's setting. */
  final @Nullable RetryPolicy retryPolicy;

  final @Nullable Duration requestTimeout;
  final @Nullable Duration responseTimeout;
  final @Nullable Duration connectTimeout;
  final @Nullable Duration idleTimeout;

  /** The peer identities allowed; null when the route authorizes every client. */
  private final @Nullable Set<String> allowedPeers;

  private HttpRoute(Builder b, String name) {
    this.name = name;
    this.matchers = b.matchers.toArray(new RequestMatcher[0]);
    this.clusters = b.clusters.toArray(new Cluster[0]);
    this.cumulativeWeights = new int[b.weights.size()];
    int sum = 0;
    for (int i = 0; i < cumulativeWeights.length; i++) {
      sum += b.weights.get(i);
      cumulativeWeights[i] = sum;
    }
    this.pathRewrite = b.pathRewrite;
    this.hostRewrite = b.hostRewrite;
    this.requestHeaders = b.requestHeaders.build();
    this.responseHeaders = b.responseHeaders.build();
    this.faults = b.faults.toArray(new HttpFault[0]);
    this.retryPolicy = b.retryPolicy;
    this.requestTimeout = b.requestTimeout;
    this.responseTimeout = b.responseTimeout;
    this.connectTimeout = b.connectTimeout;
    this.idleTimeout = b.idleTimeout;
    this.allowedPeers = b.allowedPeers;
  }

  /** Whether the route matches on or authorizes the client's TLS identity. */
  boolean readsPeer() {
    return allowedPeers != null
        || Arrays.stream(matchers).anyMatch(m -> m instanceof RequestMatcher.Peer);
  }

  /** Whether the route lets {@code head}'s TLS peer through ({@link Builder#allowPeers}). */
  boolean allows(RequestHead head) {
    Set<String> allowed = allowedPeers;
    return allowed == null || RequestMatcher.Peer.anyOf(allowed, head.peer());
  }

  static HttpRoute build(Consumer<Builder> spec, String defaultName) {
    Builder b = new Builder();
    spec.accept(b);
    return b.build(defaultName);
  }

  static HttpRoute catchAll(Cluster cluster) {
    Builder b = new Builder();
    b.name("default").to(cluster);
    return b.build("default");
  }

  /**
   * The route's name, used in stats and the access log; {@code route-N} when not set (N from 1).
   */
  public String name() {
    return name;
  }

  /** The faults this route injects, in the order they were added. */
  public List<HttpFault> faults() {
    return List.of(faults);
  }

  boolean hasFaults() {
    return faults.length > 0;
  }

  /** The faults without a copy, for {@link RouteFaults}, which keeps their per-table state. */
  HttpFault[] faultArray() {
    return faults;
  }

  /** The clusters this route sends to: one, or several for a weighted split. */
  public List<Cluster> clusters() {
    return List.of(clusters);
  }

  /** Whether every condition of this route holds for {@code head}. */
  boolean matches(HeadView head) {
    for (RequestMatcher m : matchers) {
      if (!m.matches(head)) {
        return false;
      }
    }
    return true;
  }

  /**
   * The cluster for {@code head} when every condition of this route holds (for a split, drawn at
   * random by weight each time), otherwise {@code null}. This route alone: a proxy tries its routes
   * in order, see {@link HttpProxy#routeFor(RequestHead)}.
   */
  @Override
  public @Nullable Cluster select(RequestHead head) {
    Objects.requireNonNull(head, "head");
    return matches((HeadView) head) ? pickCluster() : null; // HeadView is the only RequestHead
  }

  /** This route's cluster for one request: its one cluster, or for a split one drawn by weight. */
  Cluster pickCluster() {
    if (clusters.length == 1) {
      return clusters[0];
    }
    int r = ThreadLocalRandom.current().nextInt(cumulativeWeights[cumulativeWeights.length - 1]);
    for (int i = 0; i < cumulativeWeights.length; i++) {
      if (r < cumulativeWeights[i]) {
        return clusters[i];
      }
    }
    return clusters[clusters.length - 1];
  }

  /** The raw path to forward: {@code rawPath} rewritten if this route rewrites paths. */
  String rewritePath(String rawPath, String canonicalPath) {
    PathRewrite rw = pathRewrite;
    return rw == null ? rawPath : rw.apply(rawPath, canonicalPath);
  }

  @Nullable String hostRewrite() {
    return hostRewrite;
  }

  HeaderOps requestHeaders() {
    return requestHeaders;
  }

  HeaderOps responseHeaders() {
    return responseHeaders;
  }

  @Override
  public String toString() {
    return "HttpRoute[" + name + "]";
  }

  /**
   * The route and cluster a proxy takes for a request head, as {@link
   * HttpProxy#routeFor(RequestHead)} answers it.
   *
   * @param route the first route whose conditions all hold, or the default route
   * @param cluster the route's cluster (for a split, the one drawn by weight)
   */
  public record Match(HttpRoute route, Cluster cluster) {
    /** Checks that neither is null. */
    public Match {
      Objects.requireNonNull(route, "route");
      Objects.requireNonNull(cluster, "cluster");
    }
  }

  /** A weighted split over clusters: {@code s -> s.to(stable, 90).to(canary, 10)}. */
  public static final class Split {
    private final List<Cluster> clusters = new ArrayList<>();
    private final List<Integer> weights = new ArrayList<>();

    private Split() {}

    /**
     * Sends a share of requests to {@code cluster}, proportional to {@code weight} among the
     * weights of the split.
     *
     * @param weight 1 to 1,000,000
     */
    public Split to(Cluster cluster, int weight) {
      Objects.requireNonNull(cluster, "cluster");
      if (weight < 1 || weight > 1_000_000) {
        throw new IllegalArgumentException(
            "split weight for cluster "
                + cluster.name()
                + ": "
                + weight
                + " (expected: 1-1000000)");
      }
      clusters.add(cluster);
      weights.add(weight);
      return this;
    }
  }

  /**
   * Collects a route's conditions, target and rewrites. Every condition added must hold for the
   * route to match; a route with no condition matches every request.
   */
  public static final class Builder {
    private final List<RequestMatcher> matchers = new ArrayList<>();
    private final List<Cluster> clusters = new ArrayList<>();
    private final List<Integer> weights = new ArrayList<>();
    private @Nullable String name;
    private @Nullable PathRewrite pathRewrite;
    private @Nullable String hostRewrite;
    private final HeaderOps.Collector requestHeaders = new HeaderOps.Collector("request");
    private final HeaderOps.Collector responseHeaders = new HeaderOps.Collector("response");
    private boolean targetSet;
    private final List<HttpFault> faults = new ArrayList<>();
    private @Nullable RetryPolicy retryPolicy;
    private @Nullable Duration requestTimeout;
    private @Nullable Duration responseTimeout;
    private @Nullable Duration connectTimeout;
    private @Nullable Duration idleTimeout;
    private @Nullable Set<String> allowedPeers;

    private Builder() {}

    /**
     * Retries for this route's requests, instead of the proxy's {@linkplain
     * HttpProxyBuilder#retryPolicy(RetryPolicy) default}; {@link RetryPolicy#none()} turns them off
     * here.
     */
    public Builder retryPolicy(RetryPolicy policy) {
      this.retryPolicy = Objects.requireNonNull(policy, "policy");
      return this;
    }

    /**
     * The whole-request timeout for this route, from the request's arrival to the end of its
     * response, retries and backoffs included: the client gets 504 if no response began, otherwise
     * its connection is aborted. Default: the proxy's {@link
     * HttpProxyBuilder#requestTimeout(Duration)}.
     */
    public Builder requestTimeout(Duration d) {
      this.requestTimeout = Checks.positive("requestTimeout", d);
      return this;
    }

    /**
     * How long one try may wait for the backend's response to begin (504 or a retry after); default
     * the retry policy's per-try timeout, else the proxy's {@link
     * HttpProxyBuilder#responseTimeout(Duration)}.
     */
    public Builder responseTimeout(Duration d) {
      this.responseTimeout = Checks.positive("responseTimeout", d);
      return this;
    }

    /**
     * How long a try may wait for a connection to the backend (connecting, or queued for a pooled
     * one) before it fails as a connect failure; default the proxy's {@link
     * HttpProxyBuilder#connectTimeout(Duration)}, which bounds connecting only.
     */
    public Builder connectTimeout(Duration d) {
      this.connectTimeout = Checks.positive("connectTimeout", d);
      return this;
    }

    /**
     * How long this route's exchange with the backend may stay silent (no byte either way) before
     * it fails; default the longer of the proxy's {@link
     * HttpProxyBuilder#upstreamIdleTimeout(Duration)} and the try's response timeout plus 1 s. Set
     * here, it applies as it is: shorter than the response timeout, it ends a silent exchange first
     * (with 504).
     */
    public Builder idleTimeout(Duration d) {
      this.idleTimeout = Checks.positive("idleTimeout", d);
      return this;
    }

    /**
     * Injects {@code fault} into this route's requests (for the share its {@linkplain
     * HttpFault#toxicity() toxicity} gives, and only when its header is present if it names one).
     * Several faults are drawn independently; an abort wins.
     */
    public Builder fault(HttpFault fault) {
      faults.add(Objects.requireNonNull(fault, "fault"));
      return this;
    }

    /** The route's name in stats and logs; default {@code route-N}, N its position from 1. */
    public Builder name(String name) {
      Objects.requireNonNull(name, "name");
      if (name.isBlank()) {
        throw new IllegalArgumentException("route name: blank (expected: a name such as \"api\")");
      }
      this.name = name;
      return this;
    }

    /** Matches paths starting with {@code prefix}, e.g. {@code "/api/"}. */
    public Builder pathPrefix(String prefix) {
      matchers.add(new RequestMatcher.PathPrefix(checkPath("pathPrefix", prefix)));
      return this;
    }

    /** Matches exactly this path (the query string is not part of it). */
    public Builder path(String path) {
      matchers.add(new RequestMatcher.PathExact(checkPath("path", path)));
      return this;
    }

    /** Matches paths the regular expression matches entirely, e.g. {@code "/users/[0-9]+"}. */
    public Builder pathRegex(String regex) {
      matchers.add(new RequestMatcher.PathRegex(compile("pathRegex", regex)));
      return this;
    }

    /**
     * Matches the request's host, case-insensitively and ignoring any port: exactly ({@code
     * "admin.example.com"}) or by wildcard ({@code "*.example.com"} matches {@code a.example.com}
     * and {@code a.b.example.com}, not {@code example.com}).
     */
    public Builder host(String host) {
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
    public Builder header(String name, String value) {
      matchers.add(
          new RequestMatcher.Header(checkName(name), Objects.requireNonNull(value, "value")));
      return this;
    }

    /** Matches when a header named {@code name} is present, with any value. */
    public Builder headerPresent(String name) {
      matchers.add(new RequestMatcher.HeaderPresent(checkName(name)));
      return this;
    }

    /** Matches when a value of header {@code name} matches {@code regex} entirely. */
    public Builder headerRegex(String name, String regex) {
      matchers.add(new RequestMatcher.HeaderRegex(checkName(name), compile("headerRegex", regex)));
      return this;
    }

    /** Matches any of the given methods (case-insensitive when configured, exact on the wire). */
    public Builder method(String... methods) {
      matchers.add(RequestMatcher.Method.of(methods));
      return this;
    }

    /**
     * Matches when the query string has parameter {@code name} with (decoded) value {@code value}.
     */
    public Builder queryParam(String name, String value) {
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
     * identities}: a SPIFFE ID ({@code spiffe://cluster.local/ns/default/sa/web}), a URI or DNS
     * name, or the subject ({@code CN=web,O=example}); see {@link PeerIdentity#matches(String)}.
     * Needs a listener with client certificates ({@link HttpProxyBuilder#tls}).
     */
    public Builder peer(String... identities) {
      matchers.add(new RequestMatcher.Peer(RequestMatcher.Peer.names("peer", identities)));
      return this;
    }

    /**
     * Authorizes this route's requests: only a client whose verified certificate names one of
     * {@code identities} (as {@link #peer(String...)} reads them) is forwarded; any other, or one
     * without a certificate, gets 403 and nothing reaches a backend ({@link
     * HttpProxyStats.ErrorKind#PEER_NOT_ALLOWED}). Default: every client is.
     */
    public Builder allowPeers(String... identities) {
      this.allowedPeers = RequestMatcher.Peer.names("allowPeers", identities);
      return this;
    }

    /** Sends matching requests to {@code cluster}, balanced by the cluster's own balancer. */
    public Builder to(Cluster cluster) {
      Objects.requireNonNull(cluster, "cluster");
      checkTarget();
      clusters.add(cluster);
      weights.add(1);
      return this;
    }

    /** Splits matching requests over several clusters by weight, e.g. a 90/10 canary. */
    public Builder split(Consumer<Split> spec) {
      Objects.requireNonNull(spec, "spec");
      checkTarget();
      Split s = new Split();
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
     * Replaces a leading {@code from} of the path with {@code to}: {@code /v1/x} → {@code
     * /api/v1/x}.
     */
    public Builder rewritePathPrefix(String from, String to) {
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
    public Builder rewritePathRegex(String regex, String replacement) {
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
    public Builder rewriteHost(String host) {
      Objects.requireNonNull(host, "host");
      if (host.isBlank()
          || host.chars().anyMatch(c -> c <= ' ' || c == '/' || c == '@' || c > 126)) {
        throw new IllegalArgumentException(
            "rewriteHost '" + host + "': expected host or host:port");
      }
      hostRewrite = host;
      return this;
    }

    /** Adds a request header (keeping any the client sent). */
    public Builder addRequestHeader(String name, String value) {
      requestHeaders.add(HeaderOps.Kind.ADD, name, value);
      return this;
    }

    /** Sets a request header, replacing any the client sent. */
    public Builder setRequestHeader(String name, String value) {
      requestHeaders.add(HeaderOps.Kind.SET, name, value);
      return this;
    }

    /** Removes a request header; {@code "X-Internal-*"} removes every header with that prefix. */
    public Builder removeRequestHeader(String name) {
      requestHeaders.remove(name);
      return this;
    }

    /** Adds a response header (keeping any the backend sent). */
    public Builder addResponseHeader(String name, String value) {
      responseHeaders.add(HeaderOps.Kind.ADD, name, value);
      return this;
    }

    /** Sets a response header, replacing any the backend sent. */
    public Builder setResponseHeader(String name, String value) {
      responseHeaders.add(HeaderOps.Kind.SET, name, value);
      return this;
    }

    /** Removes a response header; {@code "X-Internal-*"} removes every header with that prefix. */
    public Builder removeResponseHeader(String name) {
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

    private void checkTarget() {
      if (targetSet) {
        throw new IllegalArgumentException(
            "route"
                + (name != null ? " " + name : "")
                + ": target set twice (expected: one .to(cluster) or one .split(...))");
      }
      targetSet = true;
    }

    private void checkRewrite() {
      if (pathRewrite != null) {
        throw new IllegalArgumentException(
            "route: path rewrite set twice (expected: one rewritePathPrefix or rewritePathRegex)");
      }
    }

    private static String checkPath(String what, String path) {
      Objects.requireNonNull(path, what);
      if (!path.startsWith("/")) {
        throw new IllegalArgumentException(
            what + " '" + path + "': expected a path starting with /");
      }
      return path;
    }

    private static String checkName(String name) {
      Objects.requireNonNull(name, "name");
      if (name.isEmpty() || !name.chars().allMatch(c -> Rfc.isTokenChar((char) c))) {
        throw new IllegalArgumentException(
            "header name '" + name + "': expected an RFC 9110 token");
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
}
