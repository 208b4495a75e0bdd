package dev.meshlet.xds;

import static dev.meshlet.xds.Envoy.assignment;
import static dev.meshlet.xds.Envoy.edsCluster;
import static dev.meshlet.xds.Envoy.httpListener;
import static dev.meshlet.xds.Envoy.prefixRoute;
import static dev.meshlet.xds.Envoy.routes;
import static dev.meshlet.xds.Envoy.tcpListener;
import static org.assertj.core.api.Assertions.assertThat;

import dev.meshlet.l4.TcpProxy;
import dev.meshlet.l7.HttpProxy;
import dev.meshlet.testkit.Await;
import io.envoyproxy.controlplane.cache.v3.Snapshot;
import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.core.v3.HeaderValue;
import io.envoyproxy.envoy.config.core.v3.HeaderValueOption;
import io.envoyproxy.envoy.config.endpoint.v3.ClusterLoadAssignment;
import io.envoyproxy.envoy.config.listener.v3.Listener;
import io.envoyproxy.envoy.config.route.v3.Route;
import io.envoyproxy.envoy.config.route.v3.RouteAction;
import io.envoyproxy.envoy.config.route.v3.RouteConfiguration;
import io.envoyproxy.envoy.config.route.v3.RouteMatch;
import io.envoyproxy.envoy.extensions.filters.network.rbac.v3.RBAC;
import io.envoyproxy.envoy.service.discovery.v3.DiscoveryRequest;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** A real control plane (java-control-plane) drives an XdsClient; real traffic goes through. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class XdsClientTest {
  private final HttpClient http =
      HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
  private ControlPlane cp;
  private HttpBackend a;
  private HttpBackend b;
  private XdsClient xds;

  @BeforeEach
  void start() throws IOException {
    cp = new ControlPlane();
    a = new HttpBackend("a");
    b = new HttpBackend("b");
  }

  @AfterEach
  void stop() throws InterruptedException {
    if (xds != null) {
      xds.close();
    }
    cp.close();
    cp.awaitStopped();
    a.close();
    b.close();
    http.close();
  }

  private XdsClient client() {
    xds =
        XdsClient.builder()
            .server("127.0.0.1", cp.port())
            .nodeId("n1")
            .metadata("NAMESPACE", "default")
            .reconnectBackoff(Duration.ofMillis(50), Duration.ofMillis(500))
            .drainTimeout(Duration.ofSeconds(5))
            .build()
            .start();
    return xds;
  }

  private void push(
      String version,
      List<Cluster> clusters,
      List<ClusterLoadAssignment> endpoints,
      List<Listener> listeners,
      List<RouteConfiguration> routeConfigs) {
    cp.push(Snapshot.create(clusters, endpoints, listeners, routeConfigs, List.of(), version));
  }

  /** Clusters a → backend a, b → backend b; listener "ingress" with RDS "web": / → {@code to}. */
  private void pushWeb(String version, String to) {
    push(
        version,
        List.of(edsCluster("a"), edsCluster("b")),
        List.of(assignment("a", a.port()), assignment("b", b.port())),
        List.of(httpListener("ingress", "web")),
        List.of(routes("web", prefixRoute("all", "/", to))));
  }

  private void awaitVersions(String version) {
    Await.until(
        "every type at version " + version,
        () ->
            List.of(XdsStatus.CLUSTER, XdsStatus.ENDPOINT, XdsStatus.LISTENER, XdsStatus.ROUTE)
                .stream()
                .allMatch(t -> version.equals(xds.status().version(t))));
  }

  private HttpProxy ingress() {
    return Await.value("listener ingress", () -> xds.httpProxy("ingress"), p -> p != null);
  }

  private HttpResponse<String> get(HttpProxy proxy, String path) throws Exception {
    return http.send(
        HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + proxy.port() + path)).build(),
        HttpResponse.BodyHandlers.ofString());
  }

  @Test
  void snapshotStartsListenerThatRoutesTraffic() throws Exception {
    pushWeb("1", "a");
    client();
    awaitVersions("1");

    HttpResponse<String> r = get(ingress(), "/hello");

    assertThat(r.statusCode()).isEqualTo(200);
    assertThat(r.body()).isEqualTo("a /hello");
    XdsStatus s = xds.status();
    assertThat(s.connected()).isTrue();
    assertThat(s.nacks()).isZero();
    assertThat(s.lastNack()).isNull();
    assertThat(xds.clusters()).containsOnlyKeys("a", "b");
    // the control plane saw who we are
    DiscoveryRequest first = cp.requests.get(0);
    assertThat(first.getNode().getId()).isEqualTo("n1");
    assertThat(first.getNode().getMetadata().getFieldsOrThrow("NAMESPACE").getStringValue())
        .isEqualTo("default");
  }

  @Test
  void newRoutesShiftTrafficWhileARequestInFlightFinishesOnTheOldRoute() throws Exception {
    pushWeb("1", "a");
    client();
    awaitVersions("1");
    HttpProxy proxy = ingress();
    CompletableFuture<HttpResponse<String>> slow =
        http.sendAsync(
            HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + proxy.port() + "/slow"))
                .build(),
            HttpResponse.BodyHandlers.ofString());
    assertThat(a.slowArrived.await(10, TimeUnit.SECONDS)).isTrue();

    pushWeb("2", "b");
    awaitVersions("2");

    assertThat(get(proxy, "/x").body()).isEqualTo("b /x");
    a.release();
    HttpResponse<String> old = slow.get(10, TimeUnit.SECONDS);
    assertThat(old.statusCode()).isEqualTo(200);
    assertThat(old.body()).isEqualTo("a /slow");
    assertThat(xds.httpProxy("ingress")).isSameAs(proxy); // replaced routes, not restarted
  }

  @Test
  void rewritesAndHeaderChangesReachTheBackendAndTheClient() throws Exception {
    Route r =
        Route.newBuilder()
            .setName("v1")
            .setMatch(RouteMatch.newBuilder().setPrefix("/v1/"))
            .setRoute(RouteAction.newBuilder().setCluster("a").setPrefixRewrite("/api/v1/"))
            .addRequestHeadersToAdd(
                HeaderValueOption.newBuilder()
                    .setHeader(HeaderValue.newBuilder().setKey("x-added").setValue("yes")))
            .addResponseHeadersToAdd(
                HeaderValueOption.newBuilder()
                    .setHeader(HeaderValue.newBuilder().setKey("x-served-by").setValue("meshlet")))
            .addResponseHeadersToRemove("x-backend")
            .build();
    push(
        "1",
        List.of(edsCluster("a")),
        List.of(assignment("a", a.port())),
        List.of(httpListener("ingress", "web")),
        List.of(routes("web", r)));
    client();
    awaitVersions("1");

    HttpResponse<String> res = get(ingress(), "/v1/users");

    assertThat(res.body()).isEqualTo("a /api/v1/users yes");
    assertThat(res.headers().firstValue("x-served-by")).hasValue("meshlet");
    assertThat(res.headers().firstValue("x-backend")).isEmpty();
    assertThat(get(ingress(), "/other").statusCode()).isEqualTo(404);
  }

  @Test
  void changedEndpointsTakeNewRequests() throws Exception {
    pushWeb("1", "a");
    client();
    awaitVersions("1");
    HttpProxy proxy = ingress();
    assertThat(get(proxy, "/").body()).startsWith("a ");

    // cluster "a" now has backend b's address only
    push(
        "2",
        List.of(edsCluster("a"), edsCluster("b")),
        List.of(assignment("a", b.port()), assignment("b", b.port())),
        List.of(httpListener("ingress", "web")),
        List.of(routes("web", prefixRoute("all", "/", "a"))));
    awaitVersions("2");

    for (int i = 0; i < 5; i++) {
      assertThat(get(proxy, "/").body()).startsWith("b ");
    }
    assertThat(xds.clusters().get("a").endpoints()).hasSize(1);
  }

  @Test
  void changedClusterDefinitionMovesRunningRoutesOntoTheNewCluster() throws Exception {
    pushWeb("1", "a");
    client();
    awaitVersions("1");
    HttpProxy proxy = ingress();
    dev.meshlet.core.Cluster before = xds.clusters().get("a");

    // cluster "a" turns from EDS into a STATIC cluster of backend b
    push(
        "2",
        List.of(Envoy.staticCluster("a", b.port()), edsCluster("b")),
        List.of(assignment("b", b.port())),
        List.of(httpListener("ingress", "web")),
        List.of(routes("web", prefixRoute("all", "/", "a"))));
    awaitVersions("2");

    assertThat(xds.clusters().get("a")).isNotSameAs(before);
    assertThat(get(proxy, "/moved").body()).isEqualTo("b /moved");
    assertThat(xds.httpProxy("ingress")).isSameAs(proxy);
  }

  @Test
  void invalidRouteIsNackedWithReasonAndOldConfigKeepsServing() throws Exception {
    pushWeb("1", "a");
    client();
    awaitVersions("1");
    HttpProxy proxy = ingress();

    pushWeb("2", "missing");

    DiscoveryRequest nack = Await.value("a NACK", () -> cp.nacks(), l -> !l.isEmpty()).get(0);
    assertThat(nack.getTypeUrl()).isEqualTo(XdsStatus.ROUTE);
    assertThat(nack.getErrorDetail().getMessage()).contains("cluster missing does not exist");
    assertThat(nack.getVersionInfo()).isEqualTo("1"); // the version still in force
    assertThat(xds.status().version(XdsStatus.ROUTE)).isEqualTo("1");
    assertThat(xds.status().lastNack()).contains("route_configuration web").contains("missing");
    assertThat(get(proxy, "/still").body()).isEqualTo("a /still");
  }

  @Test
  void unknownFilterIsNacked() throws Exception {
    pushWeb("1", "a");
    client();
    awaitVersions("1");
    Listener bad =
        Envoy.listener(
            "other", RBAC.newBuilder().setStatPrefix("r").build(), "envoy.filters.network.rbac");
    push(
        "2",
        List.of(edsCluster("a"), edsCluster("b")),
        List.of(assignment("a", a.port()), assignment("b", b.port())),
        List.of(httpListener("ingress", "web"), bad),
        List.of(routes("web", prefixRoute("all", "/", "a"))));

    DiscoveryRequest nack = Await.value("a NACK", () -> cp.nacks(), l -> !l.isEmpty()).get(0);
    long first = System.nanoTime();
    assertThat(nack.getTypeUrl()).isEqualTo(XdsStatus.LISTENER);
    assertThat(nack.getErrorDetail().getMessage())
        .contains("listener other")
        .contains("unknown filter envoy.filters.network.rbac");
    // the control plane sends the refused listener again at once: the repeats are NACKed after
    // 50, 100, 200 ms, not in a busy loop
    Await.until("4 NACKs", () -> cp.nacks().size() >= 4);
    assertThat(Duration.ofNanos(System.nanoTime() - first))
        .isGreaterThanOrEqualTo(Duration.ofMillis(340));
    assertThat(xds.httpProxy("other")).isNull();
    assertThat(get(ingress(), "/").statusCode()).isEqualTo(200);
  }

  @Test
  void removedListenerIsClosedAndTcpListenerSplices() throws Exception {
    push(
        "1",
        List.of(edsCluster("a")),
        List.of(assignment("a", a.port())),
        List.of(httpListener("ingress", "web"), tcpListener("raw", "a")),
        List.of(routes("web", prefixRoute("all", "/", "a"))));
    client();
    awaitVersions("1");
    HttpProxy proxy = ingress();
    TcpProxy raw = Await.value("listener raw", () -> xds.tcpProxy("raw"), p -> p != null);
    try (Socket s = new Socket("127.0.0.1", raw.port())) {
      OutputStream out = s.getOutputStream();
      out.write(
          "GET /tcp HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
              .getBytes(StandardCharsets.US_ASCII));
      out.flush();
      InputStream in = s.getInputStream();
      assertThat(new String(in.readAllBytes(), StandardCharsets.US_ASCII)).endsWith("a /tcp");
    }

    push(
        "2",
        List.of(edsCluster("a")),
        List.of(assignment("a", a.port())),
        List.of(tcpListener("raw", "a")),
        List.of());
    Await.until("listener ingress gone", () -> xds.httpProxy("ingress") == null);
    int port = proxy.port();
    Await.until(
        "port " + port + " closed",
        () -> {
          try (Socket probe = new Socket("127.0.0.1", port)) {
            return !probe.isConnected();
          } catch (IOException refused) {
            return true;
          }
        });
    assertThat(xds.tcpProxy("raw")).isSameAs(raw);
  }

  @Test
  void controlPlaneRestartKeepsProxyServingAndResyncs() throws Exception {
    pushWeb("1", "a");
    client();
    awaitVersions("1");
    HttpProxy proxy = ingress();

    cp.stop();
    Await.until("stream down", () -> !xds.status().connected());
    assertThat(get(proxy, "/down").body()).isEqualTo("a /down");

    pushWeb("2", "b");
    cp.restart();
    awaitVersions("2");

    assertThat(xds.status().connected()).isTrue();
    assertThat(xds.status().reconnects()).isPositive();
    assertThat(get(proxy, "/up").body()).isEqualTo("b /up");
    assertThat(xds.httpProxy("ingress")).isSameAs(proxy);
  }
}
