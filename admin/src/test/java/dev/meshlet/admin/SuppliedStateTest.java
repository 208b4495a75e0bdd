package dev.meshlet.admin;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.meshlet.core.Cluster;
import dev.meshlet.junit.HttpTestBackend;
import dev.meshlet.l7.HttpProxy;
import java.io.IOException;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Proxies and {@code /config} sections the admin endpoint reads from suppliers on each request. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class SuppliedStateTest {
  private final HttpClient http = HttpClient.newHttpClient();
  private final AtomicReference<Map<String, HttpProxy>> live = new AtomicReference<>(Map.of());
  private final AtomicReference<String> version = new AtomicReference<>("1");
  private HttpTestBackend backend;
  private HttpProxy web;
  private HttpProxy other;
  private Admin admin;

  @BeforeEach
  void start() throws IOException {
    backend = HttpTestBackend.start("b1");
    web = proxy("web-routes");
    other = proxy("other-routes");
    admin =
        Admin.builder()
            .listen("127.0.0.1", 0)
            .register("web", web)
            .httpProxies(live::get)
            .configSection("control", () -> section(version.get()))
            .start();
  }

  private HttpProxy proxy(String route) throws IOException {
    return HttpProxy.builder()
        .listen("127.0.0.1", 0)
        .route(r -> r.name(route).to(Cluster.of("c", backend.backend())))
        .start();
  }

  private static Map<String, Object> section(String v) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("version", v);
    m.put("lastError", null);
    m.put("counts", Map.of("acks", 3L));
    return m;
  }

  @AfterEach
  void stop() {
    admin.close();
    web.close();
    other.close();
    backend.close();
    http.close();
  }

  private HttpResponse<String> get(String path) throws IOException, InterruptedException {
    return http.send(
        HttpRequest.newBuilder(admin.uri().resolve(path)).timeout(Duration.ofSeconds(10)).build(),
        HttpResponse.BodyHandlers.ofString());
  }

  @Test
  void suppliedProxiesComeAndGoWithTheSupplier() throws Exception {
    assertThat(get("/config").body()).doesNotContain("\"name\":\"dyn\"");

    live.set(Map.of("dyn", other));
    String config = get("/config").body();
    assertThat(config).contains("\"name\":\"dyn\"").contains("other-routes");
    assertThat(get("/stats/prometheus").body()).contains("listener=\"dyn\"");
    assertThat(get("/clusters").body()).contains("\"name\":\"dyn\"");

    live.set(Map.of());
    assertThat(get("/config").body()).doesNotContain("\"name\":\"dyn\"");
    assertThat(get("/stats/prometheus").body()).doesNotContain("listener=\"dyn\"");
  }

  @Test
  void aSuppliedNameTakenByARegisteredProxyIsSkipped() throws Exception {
    live.set(Map.of("web", other));
    String config = get("/config").body();
    assertThat(config).contains("web-routes").doesNotContain("other-routes");
  }

  @Test
  void aDrainingSuppliedProxyLeavesReadyAlone() throws Exception {
    live.set(Map.of("dyn", other));
    other.drain();
    assertThat(get("/ready").statusCode()).isEqualTo(200);
  }

  @Test
  void configSectionIsRenderedAnewOnEachRequest() throws Exception {
    assertThat(get("/config").body())
        .contains("\"control\":{\"version\":\"1\",\"lastError\":null,\"counts\":{\"acks\":3}}");
    version.set("2");
    assertThat(get("/config").body()).contains("\"control\":{\"version\":\"2\"");
  }

  @Test
  void badSectionNamesAreRefused() {
    Admin.Builder b = Admin.builder().configSection("x", Map::of);
    assertThatThrownBy(() -> b.configSection("x", Map::of))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("configSection: name 'x' used twice");
    for (String name : List.of("", "listeners", "draining")) {
      assertThatThrownBy(() -> b.configSection(name, Map::of))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("expected: a non-empty name other than listeners, draining");
    }
  }
}
