package dev.meshlet.xds;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.protobuf.BoolValue;
import com.google.protobuf.Duration;
import com.google.protobuf.UInt32Value;
import dev.meshlet.core.Backend;
import dev.meshlet.core.Cluster;
import dev.meshlet.l7.HttpProxy;
import dev.meshlet.l7.HttpProxyBuilder;
import dev.meshlet.l7.RequestHead;
import dev.meshlet.l7.RetryPolicy;
import io.envoyproxy.envoy.config.core.v3.HeaderValue;
import io.envoyproxy.envoy.config.core.v3.HeaderValueOption;
import io.envoyproxy.envoy.config.route.v3.HeaderMatcher;
import io.envoyproxy.envoy.config.route.v3.QueryParameterMatcher;
import io.envoyproxy.envoy.config.route.v3.RedirectAction;
import io.envoyproxy.envoy.config.route.v3.Route;
import io.envoyproxy.envoy.config.route.v3.RouteAction;
import io.envoyproxy.envoy.config.route.v3.RouteConfiguration;
import io.envoyproxy.envoy.config.route.v3.RouteMatch;
import io.envoyproxy.envoy.config.route.v3.VirtualHost;
import io.envoyproxy.envoy.config.route.v3.WeightedCluster;
import io.envoyproxy.envoy.type.matcher.v3.RegexMatcher;
import io.envoyproxy.envoy.type.matcher.v3.StringMatcher;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** How RDS route configurations map onto meshlet routes, and what is refused. */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class RouteDecoderTest {
  private final Map<String, Cluster> clusters =
      Map.of(
          "a", Cluster.of("a", Backend.of("127.0.0.1", 1)),
          "b", Cluster.of("b", Backend.of("127.0.0.1", 2)),
          "c", Cluster.of("c", Backend.of("127.0.0.1", 3)),
          "d", Cluster.of("d", Backend.of("127.0.0.1", 4)));
  private HttpProxy proxy;

  @AfterEach
  void close() {
    if (proxy != null) {
      proxy.close();
    }
  }

  private RouteTable decode(RouteConfiguration rc) {
    return RouteDecoder.decode(rc, clusters::get);
  }

  private HttpProxy run(RouteConfiguration rc) throws Exception {
    HttpProxyBuilder b = HttpProxy.builder().listen("127.0.0.1", 0);
    decode(rc).applyTo(b);
    proxy = b.start();
    return proxy;
  }

  private String clusterFor(RequestHead head) {
    var m = proxy.routeFor(head);
    return m == null ? "404" : m.cluster().name();
  }

  private static VirtualHost vhost(String name, String cluster, String... domains) {
    VirtualHost.Builder v = VirtualHost.newBuilder().setName(name);
    for (String d : domains) {
      v.addDomains(d);
    }
    return v.addRoutes(Envoy.prefixRoute("r", "/", cluster)).build();
  }

  private static Route route(RouteMatch.Builder match, String cluster) {
    return Route.newBuilder()
        .setMatch(match)
        .setRoute(RouteAction.newBuilder().setCluster(cluster))
        .build();
  }

  @Test
  void mostSpecificDomainWinsWhateverTheVirtualHostOrder() throws Exception {
    run(
        RouteConfiguration.newBuilder()
            .setName("web")
            .addVirtualHosts(vhost("any", "a", "*"))
            .addVirtualHosts(vhost("suffix", "b", "*.example.com"))
            .addVirtualHosts(vhost("exact", "c", "api.example.com"))
            .addVirtualHosts(vhost("prefix", "d", "foo.*"))
            .build());

    assertThat(clusterFor(RequestHead.builder("GET", "/").host("api.example.com").build()))
        .isEqualTo("c");
    assertThat(clusterFor(RequestHead.builder("GET", "/").host("www.example.com:8080").build()))
        .isEqualTo("b");
    assertThat(clusterFor(RequestHead.builder("GET", "/").host("foo.internal").build()))
        .isEqualTo("d");
    assertThat(clusterFor(RequestHead.builder("GET", "/").host("other.org").build()))
        .isEqualTo("a");
  }

  @Test
  void pathHeaderQueryAndMethodMatchesMap() throws Exception {
    VirtualHost vh =
        VirtualHost.newBuilder()
            .setName("all")
            .addDomains("*")
            .addRoutes(
                route(
                    RouteMatch.newBuilder()
                        .setPrefix("/api/")
                        .addHeaders(
                            HeaderMatcher.newBuilder()
                                .setName("x-canary")
                                .setStringMatch(StringMatcher.newBuilder().setExact("1"))),
                    "b"))
            .addRoutes(route(RouteMatch.newBuilder().setPath("/exact"), "c"))
            .addRoutes(
                route(
                    RouteMatch.newBuilder()
                        .setSafeRegex(RegexMatcher.newBuilder().setRegex("/users/[0-9]+")),
                    "d"))
            .addRoutes(
                route(
                    RouteMatch.newBuilder()
                        .setPrefix("/")
                        .addQueryParameters(
                            QueryParameterMatcher.newBuilder()
                                .setName("v")
                                .setStringMatch(StringMatcher.newBuilder().setExact("2")))
                        .addHeaders(
                            HeaderMatcher.newBuilder()
                                .setName(":method")
                                .setStringMatch(StringMatcher.newBuilder().setExact("POST"))),
                    "c"))
            .addRoutes(
                route(
                    RouteMatch.newBuilder()
                        .setPrefix("/")
                        .addHeaders(
                            HeaderMatcher.newBuilder()
                                .setName("user-agent")
                                .setStringMatch(
                                    StringMatcher.newBuilder()
                                        .setPrefix("curl/")
                                        .setIgnoreCase(true))),
                    "d"))
            .addRoutes(route(RouteMatch.newBuilder().setPrefix(""), "a"))
            .build();
    run(RouteConfiguration.newBuilder().setName("web").addVirtualHosts(vh).build());

    assertThat(clusterFor(RequestHead.builder("GET", "/api/x").header("x-canary", "1").build()))
        .isEqualTo("b");
    assertThat(clusterFor(RequestHead.builder("GET", "/api/x").build())).isEqualTo("a");
    assertThat(clusterFor(RequestHead.builder("GET", "/exact").build())).isEqualTo("c");
    assertThat(clusterFor(RequestHead.builder("GET", "/exact/no").build())).isEqualTo("a");
    assertThat(clusterFor(RequestHead.builder("GET", "/users/42").build())).isEqualTo("d");
    assertThat(clusterFor(RequestHead.builder("POST", "/q?v=2").build())).isEqualTo("c");
    assertThat(clusterFor(RequestHead.builder("GET", "/q?v=2").build())).isEqualTo("a");
    assertThat(clusterFor(RequestHead.builder("GET", "/").header("User-Agent", "CURL/8").build()))
        .isEqualTo("d");
  }

  @Test
  void weightedClustersBecomeASplitAndZeroWeightsAreLeftOut() throws Exception {
    Route r =
        Route.newBuilder()
            .setMatch(RouteMatch.newBuilder().setPrefix("/"))
            .setRoute(
                RouteAction.newBuilder()
                    .setWeightedClusters(
                        WeightedCluster.newBuilder()
                            .addClusters(
                                WeightedCluster.ClusterWeight.newBuilder()
                                    .setName("a")
                                    .setWeight(UInt32Value.of(90)))
                            .addClusters(
                                WeightedCluster.ClusterWeight.newBuilder()
                                    .setName("b")
                                    .setWeight(UInt32Value.of(10)))
                            .addClusters(
                                WeightedCluster.ClusterWeight.newBuilder()
                                    .setName("c")
                                    .setWeight(UInt32Value.of(0)))))
            .build();
    run(Envoy.routes("web", r));

    assertThat(proxy.routes().get(0).clusters())
        .extracting(Cluster::name)
        .containsExactly("a", "b");
  }

  @Test
  void retryPolicyMapsRetryOnTokensAttemptsAndTimeouts() {
    RetryPolicy p =
        RouteActionDecoder.retry(
            "",
            io.envoyproxy.envoy.config.route.v3.RetryPolicy.newBuilder()
                .setRetryOn("gateway-error,connect-failure,retriable-status-codes")
                .addRetriableStatusCodes(429)
                .setNumRetries(UInt32Value.of(2))
                .setPerTryTimeout(Duration.newBuilder().setNanos(250_000_000))
                .build());

    assertThat(p.maxAttempts()).isEqualTo(3);
    assertThat(p.retryOn()).containsExactlyInAnyOrder(429, 502, 503, 504);
    assertThat(p.perTryTimeout()).isEqualTo(java.time.Duration.ofMillis(250));

    RetryPolicy connectOnly =
        RouteActionDecoder.retry(
            "",
            io.envoyproxy.envoy.config.route.v3.RetryPolicy.newBuilder()
                .setRetryOn("connect-failure")
                .build());
    assertThat(connectOnly.maxAttempts()).isEqualTo(2); // Envoy's default num_retries is 1
    assertThat(connectOnly.retryOn()).isEmpty();
  }

  @Test
  void headerChangesAndRewritesBuild() {
    Route r =
        Route.newBuilder()
            .setMatch(RouteMatch.newBuilder().setPrefix("/v1/"))
            .setRoute(
                RouteAction.newBuilder()
                    .setCluster("a")
                    .setPrefixRewrite("/api/v1/")
                    .setHostRewriteLiteral("backend.internal")
                    .setTimeout(Duration.newBuilder().setSeconds(3)))
            .addRequestHeadersToAdd(
                HeaderValueOption.newBuilder()
                    .setHeader(HeaderValue.newBuilder().setKey("x-added").setValue("yes"))
                    .setAppendAction(
                        HeaderValueOption.HeaderAppendAction.OVERWRITE_IF_EXISTS_OR_ADD))
            .addRequestHeadersToRemove("x-secret")
            .addResponseHeadersToAdd(
                HeaderValueOption.newBuilder()
                    .setHeader(HeaderValue.newBuilder().setKey("x-served-by").setValue("meshlet"))
                    .setAppend(BoolValue.of(true)))
            .build();

    RouteTable t = decode(Envoy.routes("web", r));

    assertThat(t.routes()).hasSize(1);
    assertThat(t.name()).isEqualTo("web");
  }

  private static RouteConfiguration with(Route r) {
    return Envoy.routes("web", r);
  }

  @Test
  void whatMeshletCannotHonourIsRefusedWithTheReason() {
    assertThatThrownBy(() -> decode(with(Envoy.prefixRoute("r", "/", "missing"))))
        .hasMessage(
            "route_configuration web: route all/r: cluster missing does not exist (expected: a CDS"
                + " cluster)");
    assertThatThrownBy(
            () ->
                decode(
                    with(
                        route(
                            RouteMatch.newBuilder()
                                .setPrefix("/")
                                .setCaseSensitive(BoolValue.of(false)),
                            "a"))))
        .hasMessageContaining("case_sensitive: false not supported");
    assertThatThrownBy(
            () ->
                decode(
                    with(
                        Route.newBuilder()
                            .setMatch(RouteMatch.newBuilder().setPrefix("/"))
                            .setRedirect(RedirectAction.newBuilder().setHostRedirect("x"))
                            .build())))
        .hasMessageContaining("action REDIRECT not supported");
    assertThatThrownBy(
            () ->
                decode(
                    with(
                        route(
                            RouteMatch.newBuilder()
                                .setSafeRegex(RegexMatcher.newBuilder().setRegex("/(unclosed")),
                            "a"))))
        .hasMessageContaining("regex /(unclosed");
    assertThatThrownBy(
            () ->
                RouteActionDecoder.retry(
                    "route r: ",
                    io.envoyproxy.envoy.config.route.v3.RetryPolicy.newBuilder()
                        .setRetryOn("envoy-ratelimited")
                        .build()))
        .hasMessageStartingWith("route r: retry_on 'envoy-ratelimited' not supported");
    Route formatter =
        Envoy.prefixRoute("r", "/", "a").toBuilder()
            .addRequestHeadersToAdd(
                HeaderValueOption.newBuilder()
                    .setHeader(
                        HeaderValue.newBuilder()
                            .setKey("x-ip")
                            .setValue("%DOWNSTREAM_REMOTE_ADDRESS%")))
            .build();
    assertThatThrownBy(() -> decode(with(formatter)))
        .hasMessageContaining("header x-ip: value formatters (%...%) not supported");
    assertThatThrownBy(
            () ->
                decode(
                    RouteConfiguration.newBuilder()
                        .setName("web")
                        .addVirtualHosts(vhost("one", "a", "example.com"))
                        .addVirtualHosts(vhost("two", "b", "EXAMPLE.com"))
                        .build()))
        .hasMessage("route_configuration web: domain EXAMPLE.com in two virtual hosts");
    assertThatThrownBy(() -> decode(RouteConfiguration.newBuilder().setName("empty").build()))
        .hasMessage("route_configuration empty: no routes");
  }
}
