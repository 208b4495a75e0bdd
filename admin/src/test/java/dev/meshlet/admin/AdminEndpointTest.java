package dev.meshlet.admin;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.meshlet.core.Backend;
import dev.meshlet.core.Cluster;
import dev.meshlet.junit.HttpTestBackend;
import dev.meshlet.l4.TcpProxy;
import dev.meshlet.l4.Toxic;
import dev.meshlet.l7.HttpFault;
import dev.meshlet.l7.HttpProxy;
import dev.meshlet.testkit.Await;
import dev.meshlet.testkit.EchoServer;
import java.io.IOException;
import java.net.ConnectException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.eclipse.jetty.util.ajax.JSON;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The admin endpoint over HTTP: readiness, drain, config, and its answers to bad requests. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class AdminEndpointTest {
  private final HttpClient http = HttpClient.newHttpClient();
  private HttpTestBackend backend;
  private EchoServer echo;
  private HttpProxy web;
  private TcpProxy db;
  private Admin admin;

  @BeforeEach
  void start() throws IOException {
    backend = HttpTestBackend.start("b1");
    echo = EchoServer.start();
    web =
        HttpProxy.builder()
            .listen("127.0.0.1", 0)
            .route(r -> r.name("api").pathPrefix("/api/").to(Cluster.of("api", backend.backend())))
            .start();
    db =
        TcpProxy.builder()
            .listen("127.0.0.1", 0)
            .backends(Backend.of("127.0.0.1", echo.port()))
            .start();
    admin = Admin.builder().listen("127.0.0.1", 0).register("web", web).register("db", db).start();
  }

  @AfterEach
  void stop() {
    admin.close();
    web.close();
    db.close();
    echo.close();
    backend.close();
  }

  private HttpResponse<String> send(String method, String path, String body)
      throws IOException, InterruptedException {
    HttpRequest.Builder b =
        HttpRequest.newBuilder(admin.uri().resolve(path)).timeout(Duration.ofSeconds(10));
    b.method(
        method,
        body.isEmpty()
            ? HttpRequest.BodyPublishers.noBody()
            : HttpRequest.BodyPublishers.ofString(body));
    return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
  }

  private HttpResponse<String> get(String path) throws IOException, InterruptedException {
    return send("GET", path, "");
  }

  @SuppressWarnings("unchecked")
  private static Map<String, Object> json(HttpResponse<String> r) {
    return (Map<String, Object>) new JSON().fromJSON(r.body());
  }

  @Test
  void refusesANonLoopbackBindUnlessAllowed() {
    assertThatThrownBy(() -> Admin.builder().listen("0.0.0.0", 0).start())
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("admin listen 0.0.0.0:0: not a loopback address")
        .hasMessageContaining("allowNonLoopback()");
  }

  @Test
  void bindsANonLoopbackAddressWhenAllowed() throws Exception {
    try (Admin open = Admin.builder().listen("0.0.0.0", 0).allowNonLoopback().start()) {
      HttpResponse<String> r =
          http.send(
              HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + open.port() + "/ready"))
                  .build(),
              HttpResponse.BodyHandlers.ofString());
      assertThat(r.statusCode()).isEqualTo(200);
    }
  }

  @Test
  void drainStopsAcceptingAndTurnsReadinessOff() throws Exception {
    assertThat(get("/ready").statusCode()).isEqualTo(200);
    // a connection open before the drain keeps working
    try (Socket open = new Socket("127.0.0.1", db.port())) {
      open.setSoTimeout(10_000);
      open.getOutputStream().write('a'); // accepted and spliced before the drain
      assertThat(open.getInputStream().read()).isEqualTo('a');
      HttpResponse<String> d = send("POST", "/drain", "");
      assertThat(d.statusCode()).isEqualTo(200);
      HttpResponse<String> ready = get("/ready");
      assertThat(ready.statusCode()).isEqualTo(503);
      assertThat(ready.body()).contains("DRAINING");
      assertThat(admin.isDraining()).isTrue();
      open.getOutputStream().write('x');
      assertThat(open.getInputStream().read()).isEqualTo('x');
      assertThatThrownBy(() -> new Socket("127.0.0.1", db.port()).close())
          .isInstanceOf(ConnectException.class);
      assertThatThrownBy(
              () -> {
                try (Socket s = new Socket()) {
                  s.connect(new InetSocketAddress("127.0.0.1", web.port()), 2000);
                }
              })
          .isInstanceOf(ConnectException.class);
      assertThat(web.stats().draining()).isTrue();
      assertThat(json(get("/config")).get("draining")).isEqualTo(true);
    }
  }

  @Test
  void drainedHttpProxyFinishesARequestInFlightAndClosesItsConnection() throws Exception {
    try (Socket s = new Socket("127.0.0.1", web.port())) {
      s.setSoTimeout(10_000);
      // the backend holds the answer 500 ms: the drain comes while the request is in flight
      String req = "GET /api/a?delay=500ms HTTP/1.1\r\nHost: x\r\n\r\n";
      s.getOutputStream().write(req.getBytes(StandardCharsets.US_ASCII));
      Await.until("the request in flight", () -> web.stats().total().inFlight() == 1);
      admin.drain();
      String answer = new String(s.getInputStream().readAllBytes(), StandardCharsets.US_ASCII);
      assertThat(answer).startsWith("HTTP/1.1 200").containsIgnoringCase("connection: close");
    }
  }

  @Test
  void configShowsListenersRoutesAndAReplaceRoutes() throws Exception {
    Map<String, Object> config = json(get("/config"));
    Object[] listeners = (Object[]) config.get("listeners");
    assertThat(listeners).hasSize(2);
    @SuppressWarnings("unchecked")
    Map<String, Object> webConfig = (Map<String, Object>) listeners[0];
    assertThat(webConfig).containsEntry("name", "web").containsEntry("type", "http");
    assertThat(routeNames(webConfig)).containsExactly("api");

    web.replaceRoutes(
        t -> t.route(r -> r.name("v2").pathPrefix("/v2/").to(Cluster.of("v2", backend.backend()))));
    @SuppressWarnings("unchecked")
    Map<String, Object> after =
        (Map<String, Object>) ((Object[]) json(get("/config")).get("listeners"))[0];
    assertThat(routeNames(after)).containsExactly("v2");
    assertThat(get("/config").body()).contains("\"v2\"").doesNotContain("\"api\"");

    db.toxics().add("slow", Toxic.latency(Duration.ofMillis(50)));
    @SuppressWarnings("unchecked")
    Map<String, Object> dbConfig =
        (Map<String, Object>) ((Object[]) json(get("/config")).get("listeners"))[1];
    assertThat(dbConfig).containsEntry("type", "tcp");
    @SuppressWarnings("unchecked")
    Map<String, Object> toxic = (Map<String, Object>) ((Object[]) dbConfig.get("toxics"))[0];
    assertThat(toxic).containsEntry("name", "slow").containsEntry("type", "latency");
    assertThat(((Map<?, ?>) toxic.get("attributes")).get("latency")).isEqualTo(50L);
  }

  @SuppressWarnings("unchecked")
  private static List<Object> routeNames(Map<String, Object> listener) {
    return Arrays.stream((Object[]) listener.get("routes"))
        .map(r -> ((Map<String, Object>) r).get("name"))
        .toList();
  }

  @Test
  void faultsShowInConfigAndAreCounted() throws Exception {
    web.replaceRoutes(
        t ->
            t.route(
                r ->
                    r.name("broken")
                        .pathPrefix("/")
                        .fault(HttpFault.abort(503))
                        .to(Cluster.of("api", backend.backend()))));
    HttpResponse<String> r =
        http.send(
            HttpRequest.newBuilder(web.uri().resolve("/x")).build(),
            HttpResponse.BodyHandlers.ofString());
    assertThat(r.statusCode()).isEqualTo(503);
    web.awaitIdle(Duration.ofSeconds(10));
    assertThat(get("/config").body()).contains("\"broken\"").contains("Abort");
    assertThat(get("/stats/prometheus").body())
        .contains("meshlet_route_rq_faults_applied_total{listener=\"web\",route=\"broken\"} 1\n")
        .contains("meshlet_downstream_rq_faults_applied_total{listener=\"web\"} 1\n");
  }

  @Test
  void unknownPathIs404AndWrongMethodIs405() throws Exception {
    HttpResponse<String> r = get("/nope");
    assertThat(r.statusCode()).isEqualTo(404);
    assertThat(json(r)).containsEntry("error", "not found: /nope");
    HttpResponse<String> m = send("DELETE", "/stats/prometheus", "");
    assertThat(m.statusCode()).isEqualTo(405);
    assertThat(m.headers().firstValue("Allow")).hasValue("GET");
    assertThat(send("GET", "/drain", "").statusCode()).isEqualTo(405);
    assertThat(send("PUT", "/proxies", "{}").statusCode()).isEqualTo(405);
  }

  @Test
  void malformedJsonAndUnknownToxicTypeAre400WithAReason() throws Exception {
    HttpResponse<String> bad = send("POST", "/proxies", "{\"name\": ");
    assertThat(bad.statusCode()).isEqualTo(400);
    assertThat((String) json(bad).get("error")).startsWith("bad request body: malformed JSON");

    HttpResponse<String> type =
        send("POST", "/proxies/db/toxics", "{\"type\": \"earthquake\", \"attributes\": {}}");
    assertThat(type.statusCode()).isEqualTo(400);
    assertThat((String) json(type).get("error"))
        .isEqualTo(
            "invalid toxic type: earthquake (expected one of: latency, bandwidth, slow_close,"
                + " timeout, reset_peer, slicer, limit_data)");

    HttpResponse<String> stream =
        send("POST", "/proxies/db/toxics", "{\"type\": \"latency\", \"stream\": \"sideways\"}");
    assertThat(stream.statusCode()).isEqualTo(400);
    assertThat((String) json(stream).get("error")).startsWith("stream was invalid");

    HttpResponse<String> attr =
        send(
            "POST",
            "/proxies/db/toxics",
            "{\"type\": \"latency\", \"attributes\": {\"latency\": \"soon\"}}");
    assertThat(attr.statusCode()).isEqualTo(400);
    assertThat((String) json(attr).get("error"))
        .isEqualTo("attribute latency: soon (expected: a number)");

    HttpResponse<String> missing = send("POST", "/proxies", "{\"name\": \"x\"}");
    assertThat(missing.statusCode()).isEqualTo(400);
    assertThat((String) json(missing).get("error")).isEqualTo("missing required field: upstream");
    assertThat(db.toxics().list()).isEmpty();
  }

  @Test
  void registeredTcpProxyTakesToxicsButKeepsItsAddress() throws Exception {
    HttpResponse<String> add =
        send(
            "POST",
            "/proxies/db/toxics",
            "{\"type\": \"latency\", \"attributes\": {\"latency\": 30}}");
    assertThat(add.statusCode()).isEqualTo(200);
    assertThat(json(add)).containsEntry("name", "latency_downstream");
    assertThat(db.toxics().list()).containsKey("latency_downstream");
    try (Socket s = new Socket("127.0.0.1", db.port())) {
      s.setSoTimeout(10_000);
      s.getOutputStream().write('x');
      assertThat(s.getInputStream().read()).isEqualTo('x');
    }
    assertThat(get("/stats/prometheus").body())
        .contains("meshlet_toxics_applied_total{listener=\"db\"} 1\n");
    HttpResponse<String> move = send("POST", "/proxies/db", "{\"upstream\": \"127.0.0.1:1\"}");
    assertThat(move.statusCode()).isEqualTo(400);
    assertThat(send("DELETE", "/proxies/db", "").statusCode()).isEqualTo(400);
    assertThat(send("POST", "/reset", "").statusCode()).isEqualTo(204);
    assertThat(db.toxics().list()).isEmpty();
  }

  @Test
  void populateCreatesProxiesAndKeepsAnUnchangedOne() throws Exception {
    String body =
        "[{\"name\": \"p1\", \"listen\": \"127.0.0.1:0\", \"upstream\": \"127.0.0.1:"
            + echo.port()
            + "\"}]";
    HttpResponse<String> first = send("POST", "/populate", body);
    assertThat(first.statusCode()).isEqualTo(201);
    @SuppressWarnings("unchecked")
    Map<String, Object> p1 = (Map<String, Object>) ((Object[]) json(first).get("proxies"))[0];
    String listen = (String) p1.get("listen");
    assertThat(listen).startsWith("127.0.0.1:").isNotEqualTo("127.0.0.1:0");
    send(
        "POST", "/proxies/p1/toxics", "{\"type\": \"limit_data\", \"attributes\": {\"bytes\": 1}}");
    String same = body.replace("127.0.0.1:0", listen);
    HttpResponse<String> again = send("POST", "/populate", same);
    assertThat(again.statusCode()).isEqualTo(201);
    assertThat(get("/proxies/p1").body()).contains("\"limit_data\"").contains(listen);
    HttpResponse<String> bad = send("POST", "/populate", "{\"name\": \"x\"}");
    assertThat(bad.statusCode()).isEqualTo(400);
    assertThat((String) json(bad).get("error")).contains("expected a JSON array");
  }

  @Test
  void browsersCannotChangeState() throws Exception {
    HttpResponse<String> r =
        http.send(
            HttpRequest.newBuilder(admin.uri().resolve("/drain"))
                .header("User-Agent", "Mozilla/5.0")
                .POST(HttpRequest.BodyPublishers.noBody())
                .build(),
            HttpResponse.BodyHandlers.ofString());
    assertThat(r.statusCode()).isEqualTo(403);
    assertThat(admin.isDraining()).isFalse();
  }
}
