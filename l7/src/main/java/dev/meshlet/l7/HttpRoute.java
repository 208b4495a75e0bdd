package dev.meshlet.l7;

import dev.meshlet.core.Cluster;
import dev.meshlet.core.Route;
import dev.meshlet.l4.Toxic;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;
import java.util.function.Consumer;
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

  /** Taken off a gRPC call's {@code grpc-timeout}; zero by default. */
  final Duration grpcTimeoutOffset;

  private final Set<String> upgrades;
  private final Map<String, Toxic> tunnelToxics;

  /** The peer identities allowed; null when the route authorizes every client. */
  private final @Nullable Set<String> allowedPeers;

  HttpRoute(HttpRouteBuilder b, String name) {
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
    this.grpcTimeoutOffset = b.grpcTimeoutOffset;
    this.upgrades = Set.copyOf(b.upgrades);
    this.tunnelToxics = Collections.unmodifiableMap(new LinkedHashMap<>(b.tunnelToxics));
    this.allowedPeers = b.allowedPeers;
  }

  /** The upgrade protocols ({@code Upgrade} tokens, lower case) forwarded as upgrades. */
  Set<String> upgrades() {
    return upgrades;
  }

  /** The L4 toxics its tunnels start with, by name, in the order given. */
  Map<String, Toxic> tunnelToxics() {
    return tunnelToxics;
  }

  /** Whether the route matches on or authorizes the client's TLS identity. */
  boolean readsPeer() {
    return allowedPeers != null
        || Arrays.stream(matchers).anyMatch(m -> m instanceof RequestMatcher.Peer);
  }

  /**
   * Whether the route lets {@code head}'s TLS peer through ({@link HttpRouteBuilder#allowPeers}).
   */
  boolean allows(RequestHead head) {
    Set<String> allowed = allowedPeers;
    return allowed == null || RequestMatcher.Peer.anyOf(allowed, head.peer());
  }

  static HttpRoute build(Consumer<HttpRouteBuilder> spec, String defaultName) {
    HttpRouteBuilder b = new HttpRouteBuilder();
    spec.accept(b);
    return b.build(defaultName);
  }

  static HttpRoute catchAll(Cluster cluster) {
    HttpRouteBuilder b = new HttpRouteBuilder();
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
    final List<Cluster> clusters = new ArrayList<>();
    final List<Integer> weights = new ArrayList<>();

    Split() {}

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
}
