package dev.meshlet.xds;

import static dev.meshlet.xds.Envoy.assignment;
import static dev.meshlet.xds.Envoy.edsCluster;
import static dev.meshlet.xds.Envoy.httpListener;
import static dev.meshlet.xds.Envoy.prefixRoute;
import static dev.meshlet.xds.Envoy.routes;
import static org.assertj.core.api.Assertions.assertThat;

import dev.meshlet.admin.Admin;
import dev.meshlet.testkit.Await;
import io.envoyproxy.controlplane.cache.v3.Snapshot;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The admin endpoint shows an XdsClient's versions, last NACK and proxies, over real HTTP. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class XdsAdminTest {
  private final HttpClient http =
      HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
  private ControlPlane cp;
  private HttpBackend a;
  private XdsClient xds;
  private Admin admin;

  @BeforeEach
  void start() throws IOException {
    cp = new ControlPlane();
    a = new HttpBackend("a");
    xds =
        XdsClient.builder()
            .server("127.0.0.1", cp.port())
            .nodeId("n1")
            .reconnectBackoff(Duration.ofMillis(50), Duration.ofMillis(500))
            .drainTimeout(Duration.ZERO)
            .build();
    admin =
        Admin.builder()
            .listen("127.0.0.1", 0)
            .httpProxies(xds::httpProxies)
            .tcpProxies(xds::tcpProxies)
            .configSection("xds", xds::statusView)
            .start();
  }

  @AfterEach
  void stop() throws InterruptedException {
    admin.close();
    xds.close();
    cp.close();
    cp.awaitStopped();
    a.close();
    http.close();
  }

  private void pushWeb(String version, String to) {
    cp.push(
        Snapshot.create(
            List.of(edsCluster("a")),
            List.of(assignment("a", a.port())),
            List.of(httpListener("ingress", "web")),
            List.of(routes("web", prefixRoute("all", "/", to))),
            List.of(),
            version));
  }

  private String admin(String path) throws Exception {
    HttpResponse<String> r =
        http.send(
            HttpRequest.newBuilder(admin.uri().resolve(path)).build(),
            HttpResponse.BodyHandlers.ofString());
    assertThat(r.statusCode()).as("GET " + path).isEqualTo(200);
    return r.body();
  }

  @Test
  void configShowsVersionsInForceAndTheXdsRunProxy() throws Exception {
    assertThat(admin("/config")).contains("\"connected\":false").contains("\"lastNack\":null");
    pushWeb("7", "a");
    xds.start();
    Await.until("RDS at 7", () -> "7".equals(xds.status().version(XdsStatus.ROUTE)));
    Await.until("ingress serves", () -> xds.httpProxy("ingress") != null);

    String config = admin("/config");
    assertThat(config)
        .contains("\"LDS\":\"7\"", "\"RDS\":\"7\"", "\"CDS\":\"7\"", "\"EDS\":\"7\"")
        .contains("\"" + XdsStatus.ROUTE + "\":\"7\"")
        .contains("\"connected\":true")
        .contains("\"name\":\"ingress\"") // the proxy the listener runs, with its routes
        .contains("\"type\":\"http\"");
    int port = xds.httpProxy("ingress").port();
    HttpResponse<String> through =
        http.send(
            HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/x")).build(),
            HttpResponse.BodyHandlers.ofString());
    assertThat(through.body()).isEqualTo("a /x");
    assertThat(admin("/stats/prometheus")).contains("listener=\"ingress\"");
  }

  @Test
  void configShowsTheNackReasonAndTheOldVersionStillInForce() throws Exception {
    pushWeb("1", "a");
    xds.start();
    Await.until("RDS at 1", () -> "1".equals(xds.status().version(XdsStatus.ROUTE)));

    pushWeb("2", "missing");
    Await.until("a NACK", () -> xds.status().nacks() > 0);

    String config = admin("/config");
    assertThat(config)
        .contains("\"RDS\":\"1\"") // the old routes stay in force
        .contains("\"rejectedVersion\":\"2\"")
        .contains("\"type\":\"RDS\"")
        .contains("cluster missing does not exist")
        .contains("\"nonce\":\"")
        .containsPattern("\"nacks\":[1-9]");
    assertThat(config).doesNotContain("PRIVATE KEY").doesNotContain("typed_config");
  }

  @Test
  void removedListenerLeavesTheAdminEndpoint() throws Exception {
    pushWeb("1", "a");
    xds.start();
    Await.until("ingress serves", () -> xds.httpProxy("ingress") != null);
    assertThat(admin("/config")).contains("\"name\":\"ingress\"");

    cp.push(
        Snapshot.create(
            List.of(edsCluster("a")),
            List.of(assignment("a", a.port())),
            List.of(),
            List.of(),
            List.of(),
            "2"));
    Await.until("ingress gone", () -> xds.httpProxy("ingress") == null);
    assertThat(admin("/config")).doesNotContain("\"name\":\"ingress\"").contains("\"LDS\":\"2\"");
    assertThat(admin("/stats/prometheus")).doesNotContain("listener=\"ingress\"");
  }
}
