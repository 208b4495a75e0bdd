package dev.meshlet.admin;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.meshlet.core.Backend;
import dev.meshlet.core.Cluster;
import dev.meshlet.core.HealthCheck;
import dev.meshlet.core.OutlierDetection;
import dev.meshlet.junit.HttpTestBackend;
import dev.meshlet.l4.TcpProxy;
import dev.meshlet.l7.HttpProxy;
import dev.meshlet.testkit.Await;
import dev.meshlet.testkit.EchoServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.eclipse.jetty.util.ajax.JSON;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** {@code /stats/prometheus} and {@code /clusters} against traffic sent through real proxies. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class MetricsTest {
  private final HttpClient http = HttpClient.newHttpClient();

  private HttpResponse<String> get(Admin admin, String path) throws Exception {
    return http.send(
        HttpRequest.newBuilder(admin.uri().resolve(path)).build(),
        HttpResponse.BodyHandlers.ofString());
  }

  /** Samples by their series as written ({@code name{labels}}), value parsed as Prometheus does. */
  private static Map<String, Double> samples(String text) {
    Map<String, Double> m = new HashMap<>();
    for (String line : text.split("\n")) {
      if (line.isEmpty() || line.startsWith("#")) {
        continue;
      }
      int space = line.lastIndexOf(' ');
      m.put(line.substring(0, space), Double.parseDouble(line.substring(space + 1)));
    }
    return m;
  }

  private static Path promtool() {
    for (String dir : System.getenv().getOrDefault("PATH", "").split(":")) {
      Path p = Path.of(dir, "promtool");
      if (Files.isExecutable(p)) {
        return p;
      }
    }
    return Path.of("/nonexistent/promtool");
  }

  @Test
  void prometheusTextCountsTheTrafficSent() throws Exception {
    try (HttpTestBackend backend = HttpTestBackend.start("b1");
        EchoServer echo = EchoServer.start();
        HttpProxy web =
            HttpProxy.builder()
                .listen("127.0.0.1", 0)
                .route(r -> r.name("api").pathPrefix("/").to(Cluster.of("api", backend.backend())))
                .start();
        TcpProxy db =
            TcpProxy.builder()
                .listen("127.0.0.1", 0)
                .backends(Backend.of("127.0.0.1", echo.port()).withName("echo"))
                .start();
        Admin admin =
            Admin.builder()
                .listen("127.0.0.1", 0)
                .register("web", web)
                .register("db \"main\"\\\n", db)
                .start()) {
      for (int i = 0; i < 5; i++) {
        HttpResponse<String> r =
            http.send(
                HttpRequest.newBuilder(web.uri().resolve("/x" + i)).build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(r.statusCode()).isEqualTo(200);
      }
      web.awaitIdle(Duration.ofSeconds(10));
      try (Socket s = new Socket("127.0.0.1", db.port())) {
        s.setSoTimeout(10_000);
        s.getOutputStream().write("hello".getBytes(StandardCharsets.US_ASCII));
        assertThat(s.getInputStream().readNBytes(5))
            .isEqualTo("hello".getBytes(StandardCharsets.US_ASCII));
      }
      db.awaitIdle(Duration.ofSeconds(10));

      HttpResponse<String> r = get(admin, "/stats/prometheus");
      assertThat(r.statusCode()).isEqualTo(200);
      assertThat(r.headers().firstValue("Content-Type"))
          .hasValue("text/plain; version=0.0.4; charset=utf-8");
      Map<String, Double> m = samples(r.body());
      String web1 = "{listener=\"web\"}";
      assertThat(m).containsEntry("meshlet_downstream_rq_total" + web1, 5.0);
      assertThat(m).containsEntry("meshlet_downstream_rq_active" + web1, 0.0);
      assertThat(m)
          .containsEntry(
              "meshlet_downstream_rq_xx_total{listener=\"web\",response_code_class=\"2\"}", 5.0);
      assertThat(m).containsEntry("meshlet_route_rq_total{listener=\"web\",route=\"api\"}", 5.0);
      assertThat(m)
          .containsEntry(
              "meshlet_downstream_rq_code_total{listener=\"web\",response_code=\"200\"}", 5.0);
      String b =
          "listener=\"web\",cluster=\"api\",backend=\"" + backend.backend().displayName() + "\"";
      assertThat(m).containsEntry("meshlet_upstream_rq_total{" + b + "}", 5.0);
      assertThat(m).containsEntry("meshlet_upstream_rq_time_count{" + b + "}", 5.0);
      assertThat(m).containsEntry("meshlet_upstream_rq_time_bucket{" + b + ",le=\"+Inf\"}", 5.0);
      assertThat(m.get("meshlet_upstream_rq_time_sum{" + b + "}")).isPositive();
      assertThat(m).containsEntry("meshlet_downstream_rq_time_count" + web1, 5.0);
      assertThat(m.get("meshlet_downstream_rq_time_bucket{listener=\"web\",le=\"3600000\"}"))
          .isEqualTo(5.0);
      assertThat(m)
          .containsEntry("meshlet_membership_healthy{listener=\"web\",cluster=\"api\"}", 1.0);

      // the name with a quote, a backslash and a line feed, escaped as the format says
      String db1 = "{listener=\"db \\\"main\\\"\\\\\\n\"}";
      assertThat(m).containsEntry("meshlet_downstream_cx_total" + db1, 1.0);
      assertThat(m).containsEntry("meshlet_downstream_cx_rx_bytes_total" + db1, 5.0);
      assertThat(m).containsEntry("meshlet_downstream_cx_tx_bytes_total" + db1, 5.0);
      assertThat(m).containsEntry("meshlet_upstream_cx_connect_time_count" + db1, 1.0);
      assertThat(m).containsEntry("meshlet_downstream_cx_length_count" + db1, 1.0);
      // no PROXY header, SNI route or TLS on this listener: its counters are there, at 0
      assertThat(m).containsEntry("meshlet_downstream_cx_proxy_header_rejected_total" + db1, 0.0);
      String hellos = "meshlet_tls_inspector_hellos_total" + db1.replace("\"}", "\",outcome=");
      assertThat(m).containsEntry(hellos + "\"routed\"}", 0.0);
      assertThat(m).containsEntry(hellos + "\"timeout\"}", 0.0);
      assertThat(m).containsEntry("meshlet_upstream_tls_handshake_failures_total" + db1, 0.0);
      assertThat(r.body())
          .contains("# TYPE meshlet_upstream_rq_time histogram\n")
          .contains("# TYPE meshlet_downstream_rq_total counter\n");

      assertPromtoolAccepts(r.body());
    }
  }

  @Test
  void httpListenerExportsItsClientConnections() throws Exception {
    try (HttpTestBackend backend = HttpTestBackend.start("b1");
        HttpProxy web =
            HttpProxy.builder()
                .listen("127.0.0.1", 0)
                .defaultRoute(Cluster.of("api", backend.backend()))
                .start();
        Admin admin = Admin.builder().listen("127.0.0.1", 0).register("web", web).start()) {
      String l = "{listener=\"web\"}";
      List<Socket> clients = new ArrayList<>();
      try {
        for (int i = 0; i < 3; i++) {
          Socket s = new Socket("127.0.0.1", web.port());
          s.setSoTimeout(10_000);
          clients.add(s);
          s.getOutputStream()
              .write("GET / HTTP/1.1\r\nHost: a\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
          assertThat(new String(s.getInputStream().readNBytes(12), StandardCharsets.US_ASCII))
              .isEqualTo("HTTP/1.1 200");
        }
        String open = get(admin, "/stats/prometheus").body();
        assertThat(samples(open))
            .containsEntry("meshlet_downstream_cx_total" + l, 3.0)
            .containsEntry("meshlet_downstream_cx_active" + l, 3.0)
            .containsEntry("meshlet_downstream_cx_destroy_total" + l, 0.0);
        assertPromtoolAccepts(open);
      } finally {
        for (Socket s : clients) {
          s.close();
        }
      }
      Await.until(
          "the three connections closed in the metrics",
          () ->
              Double.valueOf(0)
                  .equals(samples(scrape(admin)).get("meshlet_downstream_cx_active" + l)));
      assertThat(samples(scrape(admin)))
          .containsEntry("meshlet_downstream_cx_total" + l, 3.0)
          .containsEntry("meshlet_downstream_cx_destroy_total" + l, 3.0);
    }
  }

  private String scrape(Admin admin) {
    try {
      return get(admin, "/stats/prometheus").body();
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
  }

  private static void assertPromtoolAccepts(String text) throws Exception {
    Path promtool = promtool();
    assumeTrue(Files.isExecutable(promtool), "promtool not installed (apt-get install prometheus)");
    Process p =
        new ProcessBuilder(promtool.toString(), "check", "metrics")
            .redirectErrorStream(true)
            .start();
    try (OutputStream in = p.getOutputStream()) {
      in.write(text.getBytes(StandardCharsets.UTF_8));
    }
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(p.waitFor(20, TimeUnit.SECONDS)).isTrue();
    assertThat(p.exitValue()).as("promtool check metrics said: %s", out).isZero();
  }

  @Test
  void clustersShowAnEjectionAndAHealthFlip() throws Exception {
    int dead;
    try (ServerSocket s = new ServerSocket(0)) {
      dead = s.getLocalPort();
    }
    AtomicBoolean healthy = new AtomicBoolean(true);
    try (EchoServer live = EchoServer.start();
        Cluster cluster =
            Cluster.builder("db")
                .backends(
                    Backend.of("127.0.0.1", dead).withName("dead"),
                    Backend.of("127.0.0.1", live.port()).withName("live"))
                .outlierDetection(OutlierDetection.consecutiveFailures(1))
                .healthCheck(
                    HealthCheck.of(
                            (e, t) -> !e.backend().displayName().equals("live") || healthy.get())
                        .withInterval(Duration.ofMillis(20))
                        .withThresholds(1, 1))
                .build();
        TcpProxy db =
            TcpProxy.builder().listen("127.0.0.1", 0).cluster(cluster).connectAttempts(2).start();
        Admin admin = Admin.builder().listen("127.0.0.1", 0).register("db", db).start()) {
      // connect until the dead backend was tried and ejected
      Await.until(
          "the dead backend ejected",
          () -> {
            try (Socket s = new Socket("127.0.0.1", db.port())) {
              s.setSoTimeout(5000);
              s.getOutputStream().write('x');
              s.getInputStream().read();
            } catch (IOException e) {
              throw new IllegalStateException(e);
            }
            return cluster.stats().ejections() > 0;
          });
      Map<String, Map<String, Object>> backends = backends(get(admin, "/clusters").body());
      assertThat(backends.get("dead"))
          .containsEntry("ejected", true)
          .containsEntry("ejections", 1L);
      assertThat(backends.get("live"))
          .containsEntry("ejected", false)
          .containsEntry("healthy", true);

      healthy.set(false);
      Await.until(
          "/clusters shows live unhealthy",
          () -> Boolean.FALSE.equals(backendsOrThrow(admin).get("live").get("healthy")));
      assertThat(samples(get(admin, "/stats/prometheus").body()))
          .containsEntry(
              "meshlet_endpoint_healthy{listener=\"db\",cluster=\"db\",backend=\"live\"}", 0.0)
          .containsEntry(
              "meshlet_endpoint_ejected{listener=\"db\",cluster=\"db\",backend=\"dead\"}", 1.0);
      healthy.set(true);
      Await.until(
          "/clusters shows live healthy again",
          () -> Boolean.TRUE.equals(backendsOrThrow(admin).get("live").get("healthy")));
      assertThat(backendsOrThrow(admin).get("live")).containsEntry("healthTransitions", 2L);
    }
  }

  private Map<String, Map<String, Object>> backendsOrThrow(Admin admin) {
    try {
      return backends(get(admin, "/clusters").body());
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
  }

  @SuppressWarnings("unchecked")
  private static Map<String, Map<String, Object>> backends(String json) {
    Map<String, Object> doc = (Map<String, Object>) new JSON().fromJSON(json);
    Map<String, Object> listener = (Map<String, Object>) ((Object[]) doc.get("listeners"))[0];
    Map<String, Object> cluster = (Map<String, Object>) ((Object[]) listener.get("clusters"))[0];
    Map<String, Map<String, Object>> out = new HashMap<>();
    for (Object o : (Object[]) cluster.get("backends")) {
      Map<String, Object> b = (Map<String, Object>) o;
      out.put((String) b.get("name"), b);
    }
    return out;
  }
}
