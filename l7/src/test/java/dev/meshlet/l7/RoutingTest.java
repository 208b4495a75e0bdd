package dev.meshlet.l7;

import static org.assertj.core.api.Assertions.assertThat;

import dev.meshlet.core.Balancer;
import dev.meshlet.core.Cluster;
import dev.meshlet.testkit.NoLeakedThreads;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

@ExtendWith(NoLeakedThreads.class)
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class RoutingTest {
  static TestBackend api;
  static TestBackend admin;
  static TestBackend v2;
  static TestBackend web;
  static TestBackend other;
  static final HttpClient http =
      HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();

  @BeforeAll
  static void backends() throws Exception {
    api = TestBackend.named("api");
    admin = TestBackend.named("admin");
    v2 = TestBackend.named("v2");
    web = TestBackend.named("web");
    other = TestBackend.named("other");
  }

  @AfterAll
  static void stop() throws Exception {
    for (TestBackend b : new TestBackend[] {api, admin, v2, web, other}) {
      b.close();
    }
    http.close();
  }

  static Cluster pool(TestBackend b) {
    return Cluster.of(b.name, b.backend());
  }

  static String get(HttpProxy proxy, String path, String... headers) throws Exception {
    HttpRequest.Builder b = HttpRequest.newBuilder(proxy.uri().resolve(path));
    if (headers.length > 0) {
      b.headers(headers);
    }
    HttpResponse<String> r = http.send(b.build(), HttpResponse.BodyHandlers.ofString());
    return r.statusCode() == 200 ? r.body() : Integer.toString(r.statusCode());
  }

  /** Host is a restricted header in the JDK client: send it on a raw socket. */
  static String getWithHost(HttpProxy proxy, String path, String host) throws Exception {
    Raw.Reply r =
        Raw.exchange(
            proxy.port(),
            "GET " + path + " HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n\r\n");
    return r.status() == 200 ? r.body() : Integer.toString(r.status());
  }

  @Test
  void routingTableEndToEnd() throws Exception {
    try (HttpProxy proxy =
        HttpProxy.builder()
            .listen("127.0.0.1", 0)
            .route(r -> r.pathPrefix("/api/").to(pool(api)))
            .route(r -> r.host("admin.example.com").to(pool(admin)))
            .route(r -> r.header("X-API-Version", "v2").to(pool(v2)))
            .defaultRoute(pool(web))
            .start()) {
      assertThat(get(proxy, "/api/users")).isEqualTo("api");
      assertThat(getWithHost(proxy, "/dashboard", "admin.example.com")).isEqualTo("admin");
      assertThat(getWithHost(proxy, "/dashboard", "admin.example.com:8443")).isEqualTo("admin");
      assertThat(get(proxy, "/things", "X-API-Version", "v2")).isEqualTo("v2");
      assertThat(get(proxy, "/things", "X-API-Version", "v1")).isEqualTo("web");
      assertThat(get(proxy, "/")).isEqualTo("web");
      // first match wins: /api/ before the header route
      assertThat(get(proxy, "/api/x", "X-API-Version", "v2")).isEqualTo("api");
      HttpProxyStats s = Idle.await(proxy).stats();
      assertThat(s.routes().get("route-1").requests()).isEqualTo(2);
      assertThat(s.routes().get("route-2").requests()).isEqualTo(2);
      assertThat(s.routes().get("route-3").status2xx()).isEqualTo(1);
      assertThat(s.routes().get("default").requests()).isEqualTo(2);
      assertThat(s.total().requests()).isEqualTo(7);
      assertThat(s.total().inFlight()).isZero();
      assertThat(s.backends().get("api").status2xx()).isEqualTo(2);
    }
  }

  @Test
  void noMatchAndNoDefaultIs404WithShortBody() throws Exception {
    try (HttpProxy proxy =
        HttpProxy.builder()
            .listen("127.0.0.1", 0)
            .route(r -> r.pathPrefix("/api/").to(pool(api)))
            .start()) {
      HttpResponse<String> r =
          http.send(
              HttpRequest.newBuilder(proxy.uri().resolve("/nope")).build(),
              HttpResponse.BodyHandlers.ofString());
      assertThat(r.statusCode()).isEqualTo(404);
      assertThat(r.body()).hasSizeLessThan(64).contains("no route");
      assertThat(Idle.await(proxy).stats().total().errors(HttpProxyStats.ErrorKind.NO_ROUTE))
          .isEqualTo(1);
      assertThat(Idle.await(proxy).stats().total().status4xx()).isEqualTo(1);
    }
  }

  @Test
  void pathMatchers() throws Exception {
    try (HttpProxy proxy =
        HttpProxy.builder()
            .listen("127.0.0.1", 0)
            .route(r -> r.path("/exact").to(pool(api)))
            .route(r -> r.pathRegex("/users/[0-9]+").to(pool(admin)))
            .route(r -> r.pathPrefix("/static/").to(pool(v2)))
            .defaultRoute(pool(web))
            .start()) {
      assertThat(get(proxy, "/exact")).isEqualTo("api");
      assertThat(get(proxy, "/exact?q=1")).isEqualTo("api");
      assertThat(get(proxy, "/exact/more")).isEqualTo("web");
      assertThat(get(proxy, "/users/42")).isEqualTo("admin");
      assertThat(get(proxy, "/users/42x")).isEqualTo("web");
      assertThat(get(proxy, "/static/a.css")).isEqualTo("v2");
      assertThat(get(proxy, "/%73tatic/a.css")).as("matched on the decoded path").isEqualTo("v2");
      assertThat(get(proxy, "/staticx")).isEqualTo("web");
      // dot segments: routed by the normalized path, the one a backend resolves too
      Raw.Reply dots =
          Raw.exchange(
              proxy.port(),
              "GET /static/../exact HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
      assertThat(dots.status()).isEqualTo(200);
      assertThat(dots.raw()).endsWith("api");
    }
  }

  @Test
  void hostMatchersExactAndWildcardIgnoringPortAndCase() throws Exception {
    try (HttpProxy proxy =
        HttpProxy.builder()
            .listen("127.0.0.1", 0)
            .route(r -> r.host("admin.example.com").to(pool(admin)))
            .route(r -> r.host("*.example.com").to(pool(api)))
            .defaultRoute(pool(web))
            .start()) {
      assertThat(getWithHost(proxy, "/", "ADMIN.example.com")).isEqualTo("admin");
      assertThat(getWithHost(proxy, "/", "a.example.com:99")).isEqualTo("api");
      assertThat(getWithHost(proxy, "/", "a.b.example.com")).isEqualTo("api");
      assertThat(getWithHost(proxy, "/", "example.com")).isEqualTo("web");
      assertThat(getWithHost(proxy, "/", "notexample.com")).isEqualTo("web");
    }
  }

  @Test
  void headerMatchersExactPresentRegex() throws Exception {
    try (HttpProxy proxy =
        HttpProxy.builder()
            .listen("127.0.0.1", 0)
            .route(r -> r.header("X-Tier", "gold").to(pool(api)))
            .route(r -> r.headerRegex("X-User", "u-[0-9]{3}").to(pool(admin)))
            .route(r -> r.headerPresent("X-Debug").to(pool(v2)))
            .defaultRoute(pool(web))
            .start()) {
      assertThat(get(proxy, "/", "X-Tier", "gold")).isEqualTo("api");
      assertThat(get(proxy, "/", "X-Tier", "Gold")).isEqualTo("web");
      assertThat(get(proxy, "/", "X-User", "u-123")).isEqualTo("admin");
      assertThat(get(proxy, "/", "X-User", "u-1234")).isEqualTo("web");
      assertThat(get(proxy, "/", "X-Debug", "")).isEqualTo("v2");
      assertThat(get(proxy, "/", "x-debug", "1")).isEqualTo("v2");
    }
  }

  @Test
  void methodAndQueryParamMatchersAndAllMustHold() throws Exception {
    try (HttpProxy proxy =
        HttpProxy.builder()
            .listen("127.0.0.1", 0)
            .route(r -> r.name("writes").method("POST", "put").pathPrefix("/data/").to(pool(api)))
            .route(r -> r.queryParam("beta", "on").to(pool(v2)))
            .defaultRoute(pool(web))
            .start()) {
      HttpResponse<String> post =
          http.send(
              HttpRequest.newBuilder(proxy.uri().resolve("/data/1"))
                  .POST(HttpRequest.BodyPublishers.ofString("x"))
                  .build(),
              HttpResponse.BodyHandlers.ofString());
      assertThat(post.body()).isEqualTo("api");
      HttpResponse<String> put =
          http.send(
              HttpRequest.newBuilder(proxy.uri().resolve("/data/1"))
                  .PUT(HttpRequest.BodyPublishers.ofString("x"))
                  .build(),
              HttpResponse.BodyHandlers.ofString());
      assertThat(put.body()).isEqualTo("api");
      HttpResponse<String> postElsewhere =
          http.send(
              HttpRequest.newBuilder(proxy.uri().resolve("/other"))
                  .POST(HttpRequest.BodyPublishers.ofString("x"))
                  .build(),
              HttpResponse.BodyHandlers.ofString());
      assertThat(postElsewhere.body()).as("all matchers must hold").isEqualTo("web");
      assertThat(get(proxy, "/data/1")).isEqualTo("web");
      assertThat(get(proxy, "/x?a=1&beta=on")).isEqualTo("v2");
      assertThat(get(proxy, "/x?beta=o%6E")).as("decoded value").isEqualTo("v2");
      assertThat(get(proxy, "/x?beta=off")).isEqualTo("web");
      assertThat(Idle.await(proxy).stats().routes().get("writes").requests()).isEqualTo(2);
    }
  }

  @Test
  void roundRobinInsideAPool() throws Exception {
    Cluster pool =
        Cluster.builder("rr")
            .backends(api.backend(), admin.backend(), v2.backend())
            .balancer(Balancer.roundRobin())
            .build();
    try (HttpProxy proxy = HttpProxy.builder().listen("127.0.0.1", 0).defaultRoute(pool).start()) {
      Map<String, Integer> seen = new HashMap<>();
      for (int i = 0; i < 30; i++) {
        seen.merge(get(proxy, "/rr"), 1, Integer::sum);
      }
      assertThat(seen)
          .containsOnly(Map.entry("api", 10), Map.entry("admin", 10), Map.entry("v2", 10));
      assertThat(Idle.await(proxy).stats().backends()).containsKeys("api", "admin", "v2");
      assertThat(pool.endpoints())
          .allSatisfy(
              e -> {
                assertThat(e.stats().total()).isEqualTo(10);
                assertThat(e.stats().active()).isZero();
              });
    }
  }

  @Test
  void backendStatsAddUpAcrossClustersSharingABackend() throws Exception {
    try (HttpProxy proxy =
        HttpProxy.builder()
            .listen("127.0.0.1", 0)
            .route(r -> r.pathPrefix("/a/").to(pool(api)))
            .route(r -> r.pathPrefix("/b/").to(pool(api)))
            .start()) {
      get(proxy, "/a/1");
      get(proxy, "/b/1");
      get(proxy, "/b/2");
      assertThat(Idle.await(proxy).stats().backends().get("api").requests()).isEqualTo(3);
    }
  }

  @Test
  void weightedSplitWithinTolerance() throws Exception {
    Cluster stable = pool(api);
    Cluster canary = pool(v2);
    try (HttpProxy proxy =
        HttpProxy.builder()
            .listen("127.0.0.1", 0)
            .route(r -> r.name("canary").split(s -> s.to(stable, 90).to(canary, 10)))
            .start()) {
      int n = 1000;
      int canaryHits = 0;
      for (int i = 0; i < n; i++) {
        if (get(proxy, "/split").equals("v2")) {
          canaryHits++;
        }
      }
      // binomial(1000, 0.1): sd ~ 9.5; 5 sd either side
      assertThat(canaryHits).isBetween(52, 148);
      assertThat(Idle.await(proxy).stats().routes().get("canary").status2xx()).isEqualTo(n);
    }
  }

  @Test
  void routeForAnswersAsTheProxyRoutesAndFollowsALiveUpdate() throws Exception {
    Cluster apiPool = pool(api);
    Cluster webPool = pool(web);
    try (HttpProxy proxy =
        HttpProxy.builder()
            .listen("127.0.0.1", 0)
            .route(r -> r.name("api").pathPrefix("/api/").to(apiPool))
            .route(r -> r.name("admin").host("admin.example.com").to(pool(admin)))
            .defaultRoute(webPool)
            .start()) {
      RequestHead users = RequestHead.builder("GET", "/api/users").host("127.0.0.1").build();
      HttpRoute.Match m = proxy.routeFor(users);
      assertThat(m).isNotNull();
      assertThat(m.route().name()).isEqualTo("api");
      assertThat(m.cluster()).isSameAs(apiPool);
      assertThat(
              proxy.routeFor(
                  RequestHead.builder("GET", "/").host("admin.example.com:8443").build()))
          .extracting(x -> x.route().name())
          .isEqualTo("admin");
      assertThat(proxy.routeFor(RequestHead.builder("GET", "/x").build()))
          .extracting(HttpRoute.Match::cluster)
          .isSameAs(webPool);

      // the requests themselves go where routeFor said, and routeFor sent nothing nor counted
      // anything
      assertThat(get(proxy, "/api/users")).isEqualTo("api");
      assertThat(getWithHost(proxy, "/", "admin.example.com:8443")).isEqualTo("admin");
      assertThat(Idle.await(proxy).stats().total().requests()).isEqualTo(2);
      assertThat(proxy.awaitRequests(2, Duration.ofSeconds(5)))
          .extracting(HttpEvent.Completed::route)
          .containsExactly("api", "admin");

      proxy.replaceRoutes(t -> t.route(r -> r.name("only").pathPrefix("/only/").to(webPool)));
      assertThat(proxy.routeFor(users)).as("no route: the proxy would answer 404").isNull();
      assertThat(get(proxy, "/api/users")).isEqualTo("404");
    }
  }

  @Test
  void theProxysSeedReplaysARandomClusterWithoutASeedOfItsOwn() throws Exception {
    List<String> first = randomPicks(7L, null, false);
    assertThat(first)
        .hasSize(50)
        .containsAll(List.of("api", "admin", "web")); // random, not one backend
    assertThat(randomPicks(7L, null, false)).isEqualTo(first);
    assertThat(randomPicks(8L, null, false)).isNotEqualTo(first); // the seed decides
    // a cluster's own seed wins over the proxy's
    assertThat(randomPicks(1L, 99L, false)).isEqualTo(randomPicks(2L, 99L, false));
    // a table put in by replaceRoutes gets the seed too
    assertThat(randomPicks(7L, null, true)).isEqualTo(first);
  }

  /**
   * The backends 50 requests in a row reach through a new proxy seeded {@code proxySeed}, routed to
   * a new random cluster from the start or, when {@code replaced}, by a {@code replaceRoutes}
   * table.
   */
  private static List<String> randomPicks(
      long proxySeed, @Nullable Long clusterSeed, boolean replaced) throws Exception {
    Cluster.Builder cb =
        Cluster.builder("random-" + proxySeed)
            .balancer(Balancer.random())
            .backends(api.backend(), admin.backend(), web.backend());
    if (clusterSeed != null) {
      cb.seed(clusterSeed);
    }
    Cluster cluster = cb.build();
    HttpProxyBuilder b = HttpProxy.builder().listen("127.0.0.1", 0).seed(proxySeed);
    b = replaced ? b.defaultRoute(pool(other)) : b.defaultRoute(cluster);
    try (HttpProxy proxy = b.start()) {
      if (replaced) {
        proxy.replaceRoutes(t -> t.defaultRoute(cluster));
      }
      List<String> seen = new ArrayList<>();
      for (int i = 0; i < 50; i++) {
        seen.add(get(proxy, "/seeded"));
      }
      return seen;
    }
  }
}
