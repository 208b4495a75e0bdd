package dev.meshlet.micrometer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.meshlet.admin.Admin;
import dev.meshlet.core.Backend;
import dev.meshlet.core.Cluster;
import dev.meshlet.junit.HttpTestBackend;
import dev.meshlet.l4.TcpProxy;
import dev.meshlet.l7.HttpProxy;
import dev.meshlet.testkit.Await;
import dev.meshlet.testkit.EchoServer;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.io.OutputStream;
import java.net.Socket;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The binders and the admin endpoint's {@code /stats/prometheus} export the same families, with the
 * same values, for the same traffic.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class SameFamiliesTest {
  private final HttpClient http = HttpClient.newHttpClient();

  @Test
  void prometheusRegistryWritesTheAdminEndpointsFamilies() throws Exception {
    PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
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
                .register("db", db)
                .start()) {
      new HttpProxyMetrics("web", web).bindTo(registry);
      new TcpProxyMetrics("db", db).bindTo(registry);
      for (int i = 0; i < 3; i++) {
        HttpResponse<String> r =
            http.send(
                HttpRequest.newBuilder(web.uri().resolve("/x")).build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(r.statusCode()).isEqualTo(200);
      }
      web.awaitIdle(Duration.ofSeconds(10));
      try (Socket s = new Socket("127.0.0.1", db.port())) {
        s.setSoTimeout(10_000);
        s.getOutputStream().write("hello".getBytes(StandardCharsets.US_ASCII));
        assertThat(s.getInputStream().readNBytes(5)).hasSize(5);
      }
      db.awaitIdle(Duration.ofSeconds(10));
      String adminText =
          http.send(
                  HttpRequest.newBuilder(admin.uri().resolve("/stats/prometheus")).build(),
                  HttpResponse.BodyHandlers.ofString())
              .body();
      // the registry's snapshot may predate the traffic by up to 100 ms, and series first seen
      // by a scrape are in the next one: wait for two scrapes alike after the traffic
      Set<String> previous = new HashSet<>();
      String ours =
          Await.value(
              "the traffic in two scrapes alike",
              registry::scrape,
              t -> {
                Map<String, Double> m = samples(t);
                boolean same = m.keySet().equals(previous);
                previous.clear();
                previous.addAll(m.keySet());
                // each proxy's snapshot is its own: both must show the traffic
                return same
                    && Double.valueOf(3).equals(m.get("meshlet_downstream_rq_total{listener=web}"))
                    && Double.valueOf(5)
                        .equals(
                            m.get(
                                "meshlet_endpoint_rx_bytes_total{backend=echo,"
                                    + "cluster=l4-ephemeral,listener=db}"));
              });
      Map<String, String> adminTypes = types(adminText);
      Map<String, String> ourTypes = types(ours);
      assertThat(adminTypes).hasSizeGreaterThan(60);
      adminTypes.forEach(
          (name, type) -> {
            if (type.equals("histogram")) {
              // a FunctionTimer (count and sum in seconds) and a gauge per bucket
              assertThat(ourTypes).as(name).containsEntry(name + "_seconds", "summary");
              assertThat(ourTypes).as(name).containsEntry(name + "_buckets", "gauge");
            } else {
              assertThat(ourTypes).as(name).containsEntry(name, type);
            }
          });
      Map<String, Double> theirs = samples(adminText);
      Map<String, Double> mine = samples(ours);
      int compared = 0;
      for (Map.Entry<String, Double> e : theirs.entrySet()) {
        String series = e.getKey();
        String name = series.substring(0, series.indexOf('{'));
        String family = name.replaceFirst("_(bucket|count|sum)$", "");
        if ("histogram".equals(adminTypes.get(family))) {
          if (name.endsWith("_count")) {
            assertThat(mine)
                .containsEntry(
                    series.replace(family + "_count", family + "_seconds_count"), e.getValue());
          } else if (name.endsWith("_bucket") && series.contains("le=+Inf")) {
            assertThat(mine)
                .containsEntry(
                    series.replace(family + "_bucket", family + "_buckets"), e.getValue());
          }
        } else {
          assertThat(mine).as(series).containsEntry(series, e.getValue());
        }
        compared++;
      }
      assertThat(compared).isGreaterThan(100);
      // promtool's lint takes the bucket gauges' le tag for a mistake (a le on a gauge): check the
      // syntax and the rest with them left out
      assertPromtoolAccepts(withoutBuckets(ours));
    }
  }

  private static String withoutBuckets(String text) {
    StringBuilder b = new StringBuilder();
    for (String line : text.split("\n")) {
      if (!line.contains("_buckets")) {
        b.append(line).append('\n');
      }
    }
    return b.toString();
  }

  private static void assertPromtoolAccepts(String text) throws Exception {
    Path promtool = Path.of("/nonexistent/promtool");
    for (String dir : System.getenv().getOrDefault("PATH", "").split(":")) {
      if (Files.isExecutable(Path.of(dir, "promtool"))) {
        promtool = Path.of(dir, "promtool");
      }
    }
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

  private static final Pattern LABEL = Pattern.compile("(\\w+)=\"((?:[^\"\\\\]|\\\\.)*)\"");

  /** Family name to type, from the {@code # TYPE} lines. */
  private static Map<String, String> types(String text) {
    Map<String, String> m = new HashMap<>();
    for (String line : text.split("\n")) {
      if (line.startsWith("# TYPE ")) {
        String[] f = line.split(" ");
        m.put(f[2], f[3]);
      }
    }
    return m;
  }

  /**
   * Samples by {@code name{k=v,...}} with the labels sorted (Micrometer sorts its tags, the admin
   * endpoint writes them in scope order), value parsed as Prometheus does.
   */
  private static Map<String, Double> samples(String text) {
    Map<String, Double> m = new HashMap<>();
    for (String line : text.split("\n")) {
      if (line.isEmpty() || line.startsWith("#")) {
        continue;
      }
      int space = line.lastIndexOf(' ');
      String series = line.substring(0, space);
      int brace = series.indexOf('{');
      String name = brace < 0 ? series : series.substring(0, brace);
      Map<String, String> labels = new TreeMap<>();
      if (brace >= 0) {
        Matcher l = LABEL.matcher(series.substring(brace));
        while (l.find()) {
          labels.put(l.group(1), l.group(2));
        }
      }
      StringBuilder key = new StringBuilder(name).append('{');
      labels.forEach(
          (k, v) ->
              key.append(key.charAt(key.length() - 1) == '{' ? "" : ",")
                  .append(k)
                  .append('=')
                  .append(v));
      m.put(key.append('}').toString(), Double.parseDouble(line.substring(space + 1)));
    }
    return m;
  }
}
