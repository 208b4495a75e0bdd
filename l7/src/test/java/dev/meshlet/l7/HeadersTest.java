package dev.meshlet.l7;

import static org.assertj.core.api.Assertions.assertThat;

import dev.meshlet.core.Cluster;
import dev.meshlet.testkit.NoLeakedThreads;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

@ExtendWith(NoLeakedThreads.class)
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class HeadersTest {
  static TestBackend backend;

  @BeforeAll
  static void start() throws Exception {
    backend =
        TestBackend.with(
            "hdr",
            (request, response, callback) -> {
              var h = response.getHeaders();
              h.put("Server", "backend/1.0");
              h.put("X-Internal-Trace", "t1");
              h.put("X-Internal-Node", "n7");
              h.put("X-Public", "p");
              h.put("Keep-Alive", "timeout=5");
              h.put("Proxy-Authenticate", "Basic");
              h.put("Upgrade", "h2c");
              h.put("X-Hop", "secret");
              h.put("Connection", "X-Hop");
              response.write(
                  true, ByteBuffer.wrap("ok".getBytes(StandardCharsets.US_ASCII)), callback);
              return true;
            });
  }

  @AfterAll
  static void stop() throws Exception {
    backend.close();
  }

  @BeforeEach
  void clear() {
    backend.requests.clear();
  }

  static Cluster pool() {
    return Cluster.of("hdr", backend.backend());
  }

  static Raw.Reply send(HttpProxy proxy, String requestHead) throws Exception {
    return Raw.exchange(proxy.port(), requestHead + "\r\n");
  }

  @Test
  void hopByHopHeadersAreStrippedInBothDirections() throws Exception {
    try (HttpProxy proxy =
        HttpProxy.builder().listen("127.0.0.1", 0).defaultRoute(pool()).start()) {
      Raw.Reply r =
          send(
              proxy,
              "GET /h HTTP/1.1\r\nHost: app.test\r\n"
                  + "Connection: close, X-Secret, host, X-Forwarded-For, x-request-id, X-Forwarded-Host, X-Forwarded-Proto,"
                  + " X-Forwarded-Port, Via\r\n"
                  + "X-Secret: s\r\nKeep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\nTE: trailers\r\n"
                  + "Proxy-Authorization: Basic Zm9vOmJhcg==\r\nX-Forwarded-For: 6.6.6.6\r\n"
                  + "X-Request-ID: from-client\r\nX-Keep: yes\r\n");
      assertThat(r.status()).as(r.raw()).isEqualTo(200);
      TestBackend.Seen seen = backend.last();
      for (String gone :
          new String[] {
            "X-Secret", "Keep-Alive", "Proxy-Connection", "TE", "Proxy-Authorization"
          }) {
        assertThat(seen.header(gone)).as(gone).isNull();
      }
      assertThat(seen.header("Connection"))
          .as("client's Connection is not forwarded")
          .isNotEqualToIgnoringCase("close, X-Secret, host, X-Forwarded-For, x-request-id");
      assertThat(seen.header("X-Keep")).isEqualTo("yes");
      assertThat(seen.header("Host"))
          .as("Connection: host must not strip Host")
          .isEqualTo("app.test");
      assertThat(seen.header("X-Forwarded-For"))
          .as("the client's named entries go, the proxy's own stay")
          .isEqualTo("127.0.0.1");
      assertThat(seen.header("X-Request-ID")).isNotNull().isNotEqualTo("from-client").hasSize(32);
      assertThat(seen.header("X-Forwarded-Proto")).isEqualTo("http");
      assertThat(seen.header("X-Forwarded-Host")).isEqualTo("app.test");
      assertThat(seen.header("X-Forwarded-Port")).isEqualTo(String.valueOf(proxy.port()));
      assertThat(seen.header("Via")).isEqualTo("1.1 meshlet");
      // response direction
      for (String gone : new String[] {"Keep-Alive", "Proxy-Authenticate", "Upgrade", "X-Hop"}) {
        assertThat(r.header(gone)).as(gone).isNull();
      }
      assertThat(r.header("X-Public")).isEqualTo("p");
      assertThat(r.header("Via"))
          .as("the proxy adds itself to responses too")
          .isEqualTo("1.1 meshlet");
      assertThat(r.header("Server"))
          .as("the backend's Server passes; the proxy adds none")
          .isEqualTo("backend/1.0");
      assertThat(r.raw().split("\r\nDate: ", -1))
          .as("one Date (the backend's), none added by the proxy")
          .hasSize(2);
    }
  }

  @Test
  void anUpgradeTheRouteDoesNotAllowIsForwardedAsAPlainRequest() throws Exception {
    // A server may ignore Upgrade (RFC 9110 7.8): an upgrade the route does not allow goes upstream
    // without it, and the client gets the backend's ordinary answer, not a 101
    try (HttpProxy proxy =
        HttpProxy.builder().listen("127.0.0.1", 0).route(r -> r.upgrades().to(pool())).start()) {
      Raw.Reply r =
          send(
              proxy,
              "GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, close\r\nUpgrade: websocket\r\n"
                  + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n");
      assertThat(r.status()).as(r.raw()).isEqualTo(200);
      assertThat(r.header("Upgrade")).isNull();
      assertThat(backend.last().header("Upgrade")).isNull();
      assertThat(backend.last().header("Connection"))
          .satisfiesAnyOf(
              c -> assertThat(c).isNull(),
              c -> assertThat(c).doesNotContainIgnoringCase("upgrade"));
    }
    // what the JDK's HttpClient sends by default on http://: h2c is not an upgrade a route allows
    // unless told to, so it is ignored the same way on the default route
    try (HttpProxy proxy =
        HttpProxy.builder().listen("127.0.0.1", 0).defaultRoute(pool()).start()) {
      Raw.Reply h2c =
          send(
              proxy,
              "GET /h2c HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, HTTP2-Settings, close\r\n"
                  + "Upgrade: h2c\r\nHTTP2-Settings: AAEAAEAAAAIAAAABAAMAAABkAAQBAAAAAAUAAEAA\r\n");
      assertThat(h2c.status()).as(h2c.raw()).isEqualTo(200);
      assertThat(h2c.header("Upgrade")).isNull();
      assertThat(backend.last().header("Upgrade")).isNull();
      assertThat(backend.last().header("HTTP2-Settings")).isNull();
    }
  }

  @Test
  void forwardedHeadersViaAndRequestId() throws Exception {
    try (HttpProxy proxy =
        HttpProxy.builder().listen("127.0.0.1", 0).defaultRoute(pool()).start()) {
      send(
          proxy,
          "GET /f HTTP/1.1\r\nHost: shop.test:8080\r\nConnection: close\r\n"
              + "X-Forwarded-For: 203.0.113.9, 10.0.0.1\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: evil.test\r\n"
              + "X-Forwarded-Port: 1\r\nVia: 1.1 edge\r\nX-Request-ID: abc-123\r\n");
      TestBackend.Seen seen = backend.last();
      assertThat(seen.header("X-Forwarded-For")).isEqualTo("203.0.113.9, 10.0.0.1, 127.0.0.1");
      assertThat(seen.header("X-Forwarded-Proto"))
          .as("untrusted client: overwritten")
          .isEqualTo("http");
      assertThat(seen.header("X-Forwarded-Host")).isEqualTo("shop.test:8080");
      assertThat(seen.header("X-Forwarded-Port")).isEqualTo(String.valueOf(proxy.port()));
      assertThat(seen.headers().getValuesList("X-Forwarded-Proto")).hasSize(1);
      assertThat(seen.header("Via")).isEqualTo("1.1 edge, 1.1 meshlet");
      assertThat(seen.header("X-Request-ID")).isEqualTo("abc-123");
      assertThat(seen.header("Host")).isEqualTo("shop.test:8080");

      send(proxy, "GET /g HTTP/1.1\r\nHost: shop.test\r\nConnection: close\r\n");
      String id1 = backend.last().header("X-Request-ID");
      send(proxy, "GET /g HTTP/1.1\r\nHost: shop.test\r\nConnection: close\r\n");
      String id2 = backend.last().header("X-Request-ID");
      assertThat(id1).matches("[0-9a-f]{32}").isNotEqualTo(id2);
      assertThat(backend.last().header("X-Forwarded-For")).isEqualTo("127.0.0.1");
    }
  }

  @Test
  void trustedClientKeepsItsForwardedProtoHostPortAndEdgeDropsClientXff() throws Exception {
    try (HttpProxy proxy =
        HttpProxy.builder()
            .listen("127.0.0.1", 0)
            .defaultRoute(pool())
            .trustedProxies("127.0.0.0/8")
            .dropClientForwardedFor(true)
            .start()) {
      send(
          proxy,
          "GET /t HTTP/1.1\r\nHost: shop.test\r\nConnection: close\r\n"
              + "X-Forwarded-For: 1.2.3.4\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: public.test\r\nX-Forwarded-Port: 443\r\n");
      TestBackend.Seen seen = backend.last();
      assertThat(seen.header("X-Forwarded-Proto")).isEqualTo("https");
      assertThat(seen.header("X-Forwarded-Host")).isEqualTo("public.test");
      assertThat(seen.header("X-Forwarded-Port")).isEqualTo("443");
      assertThat(seen.header("X-Forwarded-For")).isEqualTo("127.0.0.1");
    }
  }

  @Test
  void routeAndProxyWideHeaderRewrites() throws Exception {
    try (HttpProxy proxy =
        HttpProxy.builder()
            .listen("127.0.0.1", 0)
            .route(
                r ->
                    r.pathPrefix("/r/")
                        .to(pool())
                        .addRequestHeader("X-Added", "a2")
                        .setRequestHeader("X-Set", "route")
                        .removeRequestHeader("X-Drop")
                        .addResponseHeader("Strict-Transport-Security", "max-age=31536000")
                        .setResponseHeader("X-Public", "rewritten"))
            .defaultRoute(pool())
            .setRequestHeader("X-Set", "proxy")
            .setRequestHeader("X-Env", "test")
            .removeRequestHeader("X-Secret-*")
            .removeResponseHeader("Server")
            .removeResponseHeader("X-Internal-*")
            .start()) {
      Raw.Reply r =
          send(
              proxy,
              "GET /r/x HTTP/1.1\r\nHost: h\r\nConnection: close\r\nX-Added: a1\r\nX-Set: client\r\n"
                  + "X-Drop: d\r\nX-Secret-Token: t\r\nX-Secret-Key: k\r\n");
      TestBackend.Seen seen = backend.last();
      assertThat(seen.headers().getValuesList("X-Added")).containsExactly("a1", "a2");
      assertThat(seen.headers().getValuesList("X-Set")).containsExactly("route");
      assertThat(seen.header("X-Env")).isEqualTo("test");
      assertThat(seen.header("X-Drop")).isNull();
      assertThat(seen.header("X-Secret-Token")).isNull();
      assertThat(seen.header("X-Secret-Key")).isNull();
      assertThat(r.header("Strict-Transport-Security")).isEqualTo("max-age=31536000");
      assertThat(r.header("X-Public")).isEqualTo("rewritten");
      assertThat(r.header("Server")).isNull();
      assertThat(r.header("X-Internal-Trace")).isNull();
      assertThat(r.header("X-Internal-Node")).isNull();

      Raw.Reply other =
          send(proxy, "GET /elsewhere HTTP/1.1\r\nHost: h\r\nConnection: close\r\nX-Drop: d\r\n");
      assertThat(backend.last().header("X-Drop"))
          .as("route rewrites apply to their route only")
          .isEqualTo("d");
      assertThat(backend.last().header("X-Set")).isEqualTo("proxy");
      assertThat(other.header("Strict-Transport-Security")).isNull();
      assertThat(other.header("X-Internal-Trace")).isNull();
    }
  }

  @Test
  void everyHeaderEditWorksAtRouteAndProxyLevel() throws Exception {
    try (HttpProxy proxy =
        HttpProxy.builder()
            .listen("127.0.0.1", 0)
            .route(
                r ->
                    r.to(pool()).removeResponseHeader("X-Public").setResponseHeader("X-Route", "r"))
            .addRequestHeader("X-Added", "proxy")
            .addResponseHeader("X-Frame-Options", "DENY")
            .setResponseHeader("Server", "meshlet")
            .start()) {
      Raw.Reply r =
          send(proxy, "GET /e HTTP/1.1\r\nHost: h\r\nConnection: close\r\nX-Added: client\r\n");
      assertThat(backend.last().headers().getValuesList("X-Added"))
          .containsExactly("client", "proxy");
      assertThat(r.header("X-Public")).isNull();
      assertThat(r.header("X-Route")).isEqualTo("r");
      assertThat(r.header("X-Frame-Options")).isEqualTo("DENY");
      assertThat(r.header("Server")).as("set replaces the backend's").isEqualTo("meshlet");
    }
  }

  @Test
  void pathPrefixRegexAndHostRewrites() throws Exception {
    try (HttpProxy proxy =
        HttpProxy.builder()
            .listen("127.0.0.1", 0)
            .route(r -> r.pathPrefix("/v1/").rewritePathPrefix("/v1/", "/api/v1/").to(pool()))
            .route(
                r ->
                    r.pathRegex("/users/[0-9]+")
                        .rewritePathRegex("^/users/([0-9]+)$", "/u/$1/profile")
                        .to(pool()))
            .route(r -> r.pathPrefix("/h/").rewriteHost("internal.svc:8080").to(pool()))
            .start()) {
      send(proxy, "GET /v1/items%20x?sort=a%2Cb HTTP/1.1\r\nHost: h\r\nConnection: close\r\n");
      assertThat(backend.last().target()).isEqualTo("/api/v1/items%20x?sort=a%2Cb");
      send(proxy, "GET /users/42?x=1 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n");
      assertThat(backend.last().target()).isEqualTo("/u/42/profile?x=1");
      send(proxy, "GET /h/x HTTP/1.1\r\nHost: public.test\r\nConnection: close\r\n");
      assertThat(backend.last().header("Host")).isEqualTo("internal.svc:8080");
      assertThat(backend.last().header("X-Forwarded-Host")).isEqualTo("public.test");
      assertThat(backend.last().target()).isEqualTo("/h/x");
    }
  }
}
