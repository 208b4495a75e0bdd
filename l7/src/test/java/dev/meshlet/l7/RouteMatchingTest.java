package dev.meshlet.l7;

import static org.assertj.core.api.Assertions.assertThat;

import dev.meshlet.core.Backend;
import dev.meshlet.core.Cluster;
import dev.meshlet.core.Schedule;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Routes and route tables matched against request heads made here: no server, no socket. */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class RouteMatchingTest {
  static final Cluster A = Cluster.of("a", Backend.of("127.0.0.1", 1));
  static final Cluster B = Cluster.of("b", Backend.of("127.0.0.1", 2));

  static HttpRoute route(Consumer<HttpRouteBuilder> spec) {
    return HttpRoute.build(spec.andThen(r -> r.to(A)), "r");
  }

  static RequestHead get(String target) {
    return RequestHead.builder("GET", target).build();
  }

  static RequestHead withHost(String host) {
    return RequestHead.builder("GET", "/").host(host).build();
  }

  static RequestHead withHeader(String name, String value) {
    return RequestHead.builder("GET", "/").header(name, value).build();
  }

  static boolean matches(HttpRoute r, RequestHead head) {
    return r.select(head) != null;
  }

  @Test
  void pathPrefixMatchesTheDecodedNormalizedPath() {
    HttpRoute r = route(b -> b.pathPrefix("/static/"));
    assertThat(matches(r, get("/static/a.css"))).isTrue();
    assertThat(matches(r, get("/%73tatic/a.css"))).as("decoded").isTrue();
    assertThat(matches(r, get("/x/../static/a.css"))).as("normalized").isTrue();
    assertThat(matches(r, get("/staticx"))).isFalse();
    assertThat(matches(r, get("/static"))).isFalse();
  }

  @Test
  void exactPathIgnoresTheQuery() {
    HttpRoute r = route(b -> b.path("/exact"));
    assertThat(matches(r, get("/exact"))).isTrue();
    assertThat(matches(r, get("/exact?q=1"))).isTrue();
    assertThat(matches(r, get("/exact/more"))).isFalse();
    assertThat(matches(r, get("/Exact"))).as("paths are case-sensitive").isFalse();
  }

  @Test
  void pathRegexMustMatchTheWholePath() {
    HttpRoute r = route(b -> b.pathRegex("/users/[0-9]+"));
    assertThat(matches(r, get("/users/42"))).isTrue();
    assertThat(matches(r, get("/users/42x"))).isFalse();
    assertThat(matches(r, get("/api/users/42"))).isFalse();
  }

  @Test
  void exactHostIgnoresPortCaseAndATrailingDot() {
    HttpRoute r = route(b -> b.host("admin.example.com"));
    assertThat(matches(r, withHost("admin.example.com"))).isTrue();
    assertThat(matches(r, withHost("ADMIN.example.com:8443"))).isTrue();
    assertThat(matches(r, withHost("admin.example.com."))).isTrue();
    assertThat(matches(r, withHost("xadmin.example.com"))).isFalse();
    assertThat(matches(r, get("/"))).as("no host at all").isFalse();
  }

  @Test
  void wildcardHostNeedsAtLeastOneLabel() {
    HttpRoute r = route(b -> b.host("*.example.com"));
    assertThat(matches(r, withHost("a.example.com:99"))).isTrue();
    assertThat(matches(r, withHost("a.b.Example.COM"))).isTrue();
    assertThat(matches(r, withHost("example.com"))).isFalse();
    assertThat(matches(r, withHost("notexample.com"))).isFalse();
  }

  @Test
  void aHostHeaderNamesTheHostWhenNoneIsSetApart() {
    HttpRoute r = route(b -> b.host("admin.example.com"));
    assertThat(matches(r, withHeader("Host", "admin.example.com:80"))).isTrue();
    assertThat(withHeader("host", "h:1").host()).isEqualTo("h");
  }

  @Test
  void headerValueIsExactAndAnyOfSeveralValuesCounts() {
    HttpRoute r = route(b -> b.header("X-Tier", "gold"));
    assertThat(matches(r, withHeader("x-tier", "gold"))).as("names are case-insensitive").isTrue();
    assertThat(matches(r, withHeader("X-Tier", "Gold"))).as("values are not").isFalse();
    assertThat(
            matches(
                r,
                RequestHead.builder("GET", "/")
                    .header("X-Tier", "silver")
                    .header("X-TIER", "gold")
                    .build()))
        .as("the second value")
        .isTrue();
    assertThat(matches(r, withHeader("X-Tier", "gold, silver")))
        .as("values are not split at commas")
        .isFalse();
  }

  @Test
  void headerPresentMatchesAnyValueEvenEmpty() {
    HttpRoute r = route(b -> b.headerPresent("X-Debug"));
    assertThat(matches(r, withHeader("x-debug", ""))).isTrue();
    assertThat(matches(r, withHeader("X-Debugger", "1"))).isFalse();
    assertThat(matches(r, get("/"))).isFalse();
  }

  @Test
  void headerRegexMatchesAWholeValue() {
    HttpRoute r = route(b -> b.headerRegex("X-User", "u-[0-9]{3}"));
    assertThat(matches(r, withHeader("X-User", "u-123"))).isTrue();
    assertThat(matches(r, withHeader("X-User", "u-1234"))).isFalse();
    assertThat(
            matches(
                r,
                RequestHead.builder("GET", "/")
                    .header("X-User", "x")
                    .header("X-User", "u-007")
                    .build()))
        .isTrue();
  }

  @Test
  void methodIsMatchedExactlyAsReceivedAgainstUpperCasedConfig() {
    HttpRoute r = route(b -> b.method("post", "PUT"));
    assertThat(matches(r, RequestHead.builder("POST", "/").build())).isTrue();
    assertThat(matches(r, RequestHead.builder("PUT", "/").build())).isTrue();
    assertThat(matches(r, RequestHead.builder("GET", "/").build())).isFalse();
    assertThat(matches(r, RequestHead.builder("post", "/").build()))
        .as("methods are case-sensitive")
        .isFalse();
  }

  @Test
  void queryParamMatchesADecodedValueAmongSeveral() {
    HttpRoute r = route(b -> b.queryParam("beta", "on"));
    assertThat(matches(r, get("/x?a=1&beta=on"))).isTrue();
    assertThat(matches(r, get("/x?beta=o%6E"))).as("decoded").isTrue();
    assertThat(matches(r, get("/x?beta=off&beta=on"))).as("any value").isTrue();
    assertThat(matches(r, get("/x?beta=off"))).isFalse();
    assertThat(matches(r, get("/x?Beta=on"))).as("names are case-sensitive").isFalse();
    assertThat(matches(r, get("/x"))).isFalse();
    assertThat(matches(r, get("/x?"))).isFalse();
  }

  @Test
  void everyConditionOfARouteMustHold() {
    HttpRoute r = route(b -> b.method("POST").pathPrefix("/data/").header("X-Tier", "gold"));
    assertThat(matches(r, RequestHead.builder("POST", "/data/1").header("X-Tier", "gold").build()))
        .isTrue();
    assertThat(matches(r, RequestHead.builder("POST", "/data/1").build())).isFalse();
    assertThat(matches(r, RequestHead.builder("GET", "/data/1").header("X-Tier", "gold").build()))
        .isFalse();
    assertThat(matches(r, RequestHead.builder("POST", "/other").header("X-Tier", "gold").build()))
        .isFalse();
    assertThat(matches(HttpRoute.build(b -> b.to(A), "any"), get("/anything")))
        .as("no condition")
        .isTrue();
  }

  @Test
  void theTableTakesTheFirstMatchThenTheDefaultThenNothing() {
    HttpRoute api = HttpRoute.build(r -> r.name("api").pathPrefix("/api/").to(A), "x");
    HttpRoute v2 = HttpRoute.build(r -> r.name("v2").header("X-API-Version", "v2").to(B), "x");
    RouteTable table = new RouteTable(List.of(api, v2), HttpRoute.catchAll(B));
    assertThat(table.route(get("/api/users"))).isSameAs(api);
    assertThat(
            table.route(RequestHead.builder("GET", "/api/x").header("X-API-Version", "v2").build()))
        .as("first match wins")
        .isSameAs(api);
    assertThat(table.route(withHeader("X-API-Version", "v2"))).isSameAs(v2);
    assertThat(table.route(get("/"))).isSameAs(table.defaultRoute());
    assertThat(table.route(get("/")).name()).isEqualTo("default");
    assertThat(table.all()).hasSize(3).endsWith(table.defaultRoute());

    RouteTable noDefault = new RouteTable(List.of(api), null);
    assertThat(noDefault.route(get("/"))).isNull();
    assertThat(noDefault.match(get("/"))).isNull();
    HttpRoute.Match m = noDefault.match(get("/api/"));
    assertThat(m).isNotNull();
    assertThat(m.route()).isSameAs(api);
    assertThat(m.cluster()).isSameAs(A);
  }

  @Test
  void aSplitDrawsClustersByWeight() {
    HttpRoute r = HttpRoute.build(b -> b.split(s -> s.to(A, 90).to(B, 10)), "canary");
    int canary = 0;
    int n = 20_000;
    for (int i = 0; i < n; i++) {
      Cluster c = r.select(get("/"));
      assertThat(c).isIn(A, B);
      if (c == B) {
        canary++;
      }
    }
    // Binomial(20000, 0.1): mean 2000, sigma 42; 1700-2300 is seven sigmas
    assertThat(canary).isBetween(1700, 2300);
    assertThat(r.clusters()).containsExactly(A, B);
  }

  @Test
  void faultStateBelongsToTheTableAndARestartedTableStartsItOver() {
    HttpRoute r =
        HttpRoute.build(
            b ->
                b.name("f")
                    .to(A)
                    .fault(HttpFault.abort(503).schedule(Schedule.firstN(1)))
                    .fault(HttpFault.delay(Duration.ZERO).toxicity(0)),
            "x");
    HttpRoute plain = HttpRoute.build(b -> b.name("plain").pathPrefix("/p").to(B), "x");
    RouteTable table = new RouteTable(List.of(plain, r), null);
    assertThat(table.faults(plain)).as("a route without faults has no state").isNull();
    RouteFaults f = table.faults(r);
    assertThat(f).isNotNull();
    assertThat(f.applies(0, 42)).as("firstN(1): the first request").isTrue();
    assertThat(f.applies(0, 42)).isFalse();
    assertThat(f.applies(1, 42)).as("toxicity 0 never applies").isFalse();

    RouteTable again = table.restarted();
    assertThat(again.route(get("/"))).as("the same routes").isSameAs(r);
    RouteFaults fresh = again.faults(r);
    assertThat(fresh).isNotNull().isNotSameAs(f);
    assertThat(fresh.applies(0, 42)).as("counts from 1 again").isTrue();
    assertThat(f.applies(0, 42)).as("the old table's state is its own").isFalse();
  }

  @Test
  void toxicityDrawsReplayWithTheSeedAndFollowTheProbability() {
    HttpRoute r =
        HttpRoute.build(b -> b.name("t").to(A).fault(HttpFault.abort(503).toxicity(0.3)), "x");
    RouteFaults one = new RouteTable(List.of(r), null).faults(r);
    RouteFaults two = new RouteTable(List.of(r), null).faults(r);
    assertThat(one).isNotNull();
    assertThat(two).isNotNull();
    int hits = 0;
    for (int i = 0; i < 10_000; i++) {
      boolean a = one.applies(0, 7);
      assertThat(two.applies(0, 7)).as("draw %d replays", i).isEqualTo(a);
      hits += a ? 1 : 0;
    }
    // Binomial(10000, 0.3): mean 3000, sigma 46; 2700-3300 is six and a half sigmas
    assertThat(hits).isBetween(2700, 3300);
  }
}
