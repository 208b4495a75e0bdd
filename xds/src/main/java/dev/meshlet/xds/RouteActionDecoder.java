package dev.meshlet.xds;

import dev.meshlet.core.Cluster;
import dev.meshlet.l7.HttpRouteBuilder;
import dev.meshlet.l7.RetryPolicy;
import io.envoyproxy.envoy.config.core.v3.HeaderValueOption;
import io.envoyproxy.envoy.config.route.v3.Route;
import io.envoyproxy.envoy.config.route.v3.RouteAction;
import io.envoyproxy.envoy.config.route.v3.RouteConfiguration;
import io.envoyproxy.envoy.config.route.v3.RouteMatch;
import io.envoyproxy.envoy.config.route.v3.VirtualHost;
import io.envoyproxy.envoy.config.route.v3.WeightedCluster;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeSet;
import java.util.function.Consumer;
import java.util.function.Function;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.jspecify.annotations.Nullable;

/**
 * Reads a route's action (its cluster or weighted clusters, rewrites, timeout, retries) and the
 * header additions and removals of the route, its virtual host and its route configuration.
 */
final class RouteActionDecoder {
  private static final Pattern RE2_GROUP = Pattern.compile("\\\\(\\d)");

  private RouteActionDecoder() {}

  static Consumer<HttpRouteBuilder> decode(
      String at,
      RouteConfiguration rc,
      VirtualHost vh,
      Route r,
      Function<String, @Nullable Cluster> clusters) {
    if (r.getActionCase() != Route.ActionCase.ROUTE) {
      throw new IllegalArgumentException(
          at + "action " + r.getActionCase() + " not supported (expected: route)");
    }
    RouteAction a = r.getRoute();
    List<Consumer<HttpRouteBuilder>> parts = new ArrayList<>();
    parts.add(target(at, a, clusters));
    if (a.getRequestMirrorPoliciesCount() > 0) {
      throw new IllegalArgumentException(at + "request_mirror_policies not supported");
    }
    if (!a.getPrefixRewrite().isEmpty()) {
      RouteMatch m = r.getMatch();
      String from =
          switch (m.getPathSpecifierCase()) {
            case PREFIX -> m.getPrefix().isEmpty() ? "/" : m.getPrefix();
            case PATH -> m.getPath();
            default ->
                throw new IllegalArgumentException(
                    at + "prefix_rewrite needs a prefix or path match");
          };
      String to = a.getPrefixRewrite();
      parts.add(b -> b.rewritePathPrefix(from, to));
    } else if (a.hasRegexRewrite()) {
      String regex = RouteDecoder.checkRegex(at, a.getRegexRewrite().getPattern().getRegex());
      // RE2 refers to groups as \1, java.util.regex as $1
      String replacement =
          RE2_GROUP
              .matcher(Matcher.quoteReplacement(a.getRegexRewrite().getSubstitution()))
              .replaceAll("\\$$1");
      parts.add(b -> b.rewritePathRegex(regex, replacement));
    }
    switch (a.getHostRewriteSpecifierCase()) {
      case HOST_REWRITE_LITERAL -> {
        String host = a.getHostRewriteLiteral();
        parts.add(b -> b.rewriteHost(host));
      }
      case HOSTREWRITESPECIFIER_NOT_SET -> {}
      default ->
          throw new IllegalArgumentException(
              at
                  + a.getHostRewriteSpecifierCase()
                  + " not supported (expected: host_rewrite_literal)");
    }
    if (a.hasTimeout()) {
      Duration t = Durations.of(a.getTimeout());
      if (!t.isZero()) { // zero is Envoy's "no timeout": meshlet keeps its proxy-wide one
        parts.add(b -> b.requestTimeout(t));
      }
    }
    if (a.hasIdleTimeout() && !Durations.of(a.getIdleTimeout()).isZero()) {
      Duration t = Durations.of(a.getIdleTimeout());
      parts.add(b -> b.idleTimeout(t));
    }
    if (a.hasRetryPolicy() || vh.hasRetryPolicy()) {
      RetryPolicy p = retry(at, a.hasRetryPolicy() ? a.getRetryPolicy() : vh.getRetryPolicy());
      parts.add(b -> b.retryPolicy(p));
    }
    // most specific first, as Envoy applies them: the route's, its virtual host's, the table's
    parts.add(headers(at, true, r.getRequestHeadersToAddList(), r.getRequestHeadersToRemoveList()));
    parts.add(
        headers(at, true, vh.getRequestHeadersToAddList(), vh.getRequestHeadersToRemoveList()));
    parts.add(
        headers(at, true, rc.getRequestHeadersToAddList(), rc.getRequestHeadersToRemoveList()));
    parts.add(
        headers(at, false, r.getResponseHeadersToAddList(), r.getResponseHeadersToRemoveList()));
    parts.add(
        headers(at, false, vh.getResponseHeadersToAddList(), vh.getResponseHeadersToRemoveList()));
    parts.add(
        headers(at, false, rc.getResponseHeadersToAddList(), rc.getResponseHeadersToRemoveList()));
    return b -> parts.forEach(p -> p.accept(b));
  }

  private static Consumer<HttpRouteBuilder> target(
      String at, RouteAction a, Function<String, @Nullable Cluster> clusters) {
    return switch (a.getClusterSpecifierCase()) {
      case CLUSTER -> {
        Cluster c = cluster(at, a.getCluster(), clusters);
        yield b -> b.to(c);
      }
      case WEIGHTED_CLUSTERS -> split(at, a.getWeightedClusters(), clusters);
      default ->
          throw new IllegalArgumentException(
              at
                  + a.getClusterSpecifierCase()
                  + " not supported (expected: cluster or weighted_clusters)");
    };
  }

  private static Consumer<HttpRouteBuilder> split(
      String at, WeightedCluster split, Function<String, @Nullable Cluster> clusters) {
    List<Cluster> cs = new ArrayList<>();
    List<Integer> weights = new ArrayList<>();
    for (WeightedCluster.ClusterWeight w : split.getClustersList()) {
      if (w.getRequestHeadersToAddCount() > 0
          || w.getResponseHeadersToAddCount() > 0
          || w.getRequestHeadersToRemoveCount() > 0
          || w.getResponseHeadersToRemoveCount() > 0) {
        throw new IllegalArgumentException(
            at + "weighted cluster " + w.getName() + ": header changes not supported");
      }
      int weight = w.hasWeight() ? w.getWeight().getValue() : 0;
      if (weight < 0 || weight > 1_000_000) {
        throw new IllegalArgumentException(
            at
                + "weighted cluster "
                + w.getName()
                + ": weight "
                + weight
                + " (expected: 0-1000000)");
      }
      Cluster c = cluster(at, w.getName(), clusters);
      if (weight > 0) {
        cs.add(c);
        weights.add(weight);
      }
    }
    if (cs.isEmpty()) {
      throw new IllegalArgumentException(
          at + "weighted_clusters: no cluster with a weight above 0");
    }
    return b ->
        b.split(
            s -> {
              for (int i = 0; i < cs.size(); i++) {
                s.to(cs.get(i), weights.get(i));
              }
            });
  }

  private static Cluster cluster(
      String at, String name, Function<String, @Nullable Cluster> clusters) {
    Cluster c = clusters.apply(name);
    if (c == null) {
      throw new IllegalArgumentException(
          at + "cluster " + name + " does not exist (expected: a CDS cluster)");
    }
    return c;
  }

  static RetryPolicy retry(String at, io.envoyproxy.envoy.config.route.v3.RetryPolicy p) {
    int retries = p.hasNumRetries() ? p.getNumRetries().getValue() : 1;
    if (retries < 0 || retries > 9) {
      throw new IllegalArgumentException(
          at + "retry_policy num_retries: " + retries + " (expected: 0-9)");
    }
    TreeSet<Integer> statuses = new TreeSet<>();
    for (String token : p.getRetryOn().split(",", -1)) {
      switch (token.strip()) {
        case "5xx" -> {
          for (int s = 500; s < 600; s++) {
            statuses.add(s);
          }
        }
        case "gateway-error" -> statuses.addAll(List.of(502, 503, 504));
        case "retriable-4xx" -> statuses.add(409);
        case "retriable-status-codes" -> statuses.addAll(p.getRetriableStatusCodesList());
        // meshlet retries these whenever a policy retries at all
        case "connect-failure", "reset", "reset-before-request", "refused-stream", "" -> {}
        default ->
            throw new IllegalArgumentException(
                at
                    + "retry_on '"
                    + token.strip()
                    + "' not supported (expected: 5xx, gateway-error, retriable-4xx,"
                    + " retriable-status-codes, connect-failure, reset, refused-stream)");
      }
    }
    RetryPolicy.Builder b = RetryPolicy.builder().maxAttempts(retries + 1);
    b.retryOnStatusOnly(statuses.stream().mapToInt(Integer::intValue).toArray());
    if (p.hasPerTryTimeout()) {
      b.perTryTimeout(Durations.of(p.getPerTryTimeout()));
    }
    if (p.hasRetryBackOff()) {
      Duration base = Durations.of(p.getRetryBackOff().getBaseInterval());
      Duration max =
          p.getRetryBackOff().hasMaxInterval()
              ? Durations.of(p.getRetryBackOff().getMaxInterval())
              : base.multipliedBy(10);
      b.backoff(base, max);
    }
    try {
      return b.build();
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(at + "retry_policy: " + e.getMessage(), e);
    }
  }

  @SuppressWarnings("deprecation") // `append` is deprecated for append_action, still sent
  private static Consumer<HttpRouteBuilder> headers(
      String at, boolean request, List<HeaderValueOption> add, List<String> remove) {
    List<Consumer<HttpRouteBuilder>> ops = new ArrayList<>();
    for (HeaderValueOption o : add) {
      String name = o.getHeader().getKey();
      String value =
          o.getHeader().getValue().isEmpty()
              ? o.getHeader().getRawValue().toStringUtf8()
              : o.getHeader().getValue();
      if (value.indexOf('%') >= 0) {
        throw new IllegalArgumentException(
            at + "header " + name + ": value formatters (%...%) not supported");
      }
      boolean set =
          switch (o.getAppendAction()) {
            case APPEND_IF_EXISTS_OR_ADD -> o.hasAppend() && !o.getAppend().getValue();
            case OVERWRITE_IF_EXISTS_OR_ADD -> true;
            default ->
                throw new IllegalArgumentException(
                    at
                        + "header "
                        + name
                        + ": append_action "
                        + o.getAppendAction()
                        + " not supported (expected: APPEND_IF_EXISTS_OR_ADD,"
                        + " OVERWRITE_IF_EXISTS_OR_ADD)");
          };
      if (request) {
        ops.add(set ? b -> b.setRequestHeader(name, value) : b -> b.addRequestHeader(name, value));
      } else {
        ops.add(
            set ? b -> b.setResponseHeader(name, value) : b -> b.addResponseHeader(name, value));
      }
    }
    for (String name : remove) {
      ops.add(request ? b -> b.removeRequestHeader(name) : b -> b.removeResponseHeader(name));
    }
    return b -> ops.forEach(op -> op.accept(b));
  }
}
