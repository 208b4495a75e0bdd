package dev.meshlet.modulepath;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.net.httpserver.HttpServer;
import dev.meshlet.admin.Admin;
import dev.meshlet.core.Backend;
import dev.meshlet.core.Cluster;
import dev.meshlet.l4.TcpProxy;
import dev.meshlet.l7.HttpProxy;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Both proxies start and forward from a named module: the module descriptors hold together. */
@Timeout(60)
class ModulePathTest {
  private HttpServer backend;
  private HttpClient http;

  @BeforeEach
  void startBackend() throws IOException {
    backend = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
    backend.createContext(
        "/",
        exchange -> {
          byte[] body =
              ("hello " + exchange.getRequestURI().getPath()).getBytes(StandardCharsets.UTF_8);
          exchange.sendResponseHeaders(200, body.length);
          try (OutputStream out = exchange.getResponseBody()) {
            out.write(body);
          }
        });
    backend.start();
    http =
        HttpClient.newBuilder()
            .version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(10))
            .build();
  }

  @AfterEach
  void stop() {
    http.close();
    backend.stop(0);
  }

  @Test
  void runsOnTheModulePath() {
    assertTrue(TcpProxy.class.getModule().isNamed(), "dev.meshlet.l4 is a named module");
    assertEquals("dev.meshlet.l4", TcpProxy.class.getModule().getName());
    assertEquals("dev.meshlet.l7", HttpProxy.class.getModule().getName());
    assertEquals("dev.meshlet.admin", Admin.class.getModule().getName());
    assertEquals("dev.meshlet.modulepath.it", getClass().getModule().getName());
  }

  @Test
  void tcpProxyForwards() throws Exception {
    try (TcpProxy proxy = TcpProxy.builder().listen("127.0.0.1", 0).backends(target()).start()) {
      assertEquals("hello /tcp", get(URI.create("http://127.0.0.1:" + proxy.port() + "/tcp")));
    }
  }

  @Test
  void httpProxyForwards() throws Exception {
    try (HttpProxy proxy =
        HttpProxy.builder()
            .listen("127.0.0.1", 0)
            .defaultRoute(Cluster.of("backend", target()))
            .start()) {
      assertEquals("hello /http", get(proxy.uri().resolve("/http")));
    }
  }

  @Test
  void adminServesMetricsAndTheToxiproxyApi() throws Exception {
    try (TcpProxy proxy = TcpProxy.builder().listen("127.0.0.1", 0).backends(target()).start();
        Admin admin = Admin.builder().listen("127.0.0.1", 0).register("db", proxy).start()) {
      assertEquals("hello /tcp", get(URI.create("http://127.0.0.1:" + proxy.port() + "/tcp")));
      assertTrue(
          get(admin.uri().resolve("/stats/prometheus"))
              .contains("meshlet_downstream_cx_total{listener=\"db\"} 1\n"));
      assertTrue(get(admin.uri().resolve("/proxies")).contains("\"name\":\"db\""));
    }
  }

  private Backend target() {
    return Backend.of("127.0.0.1", this.backend.getAddress().getPort());
  }

  private String get(URI uri) throws Exception {
    HttpResponse<String> r =
        http.send(
            HttpRequest.newBuilder(uri).timeout(Duration.ofSeconds(30)).build(),
            HttpResponse.BodyHandlers.ofString());
    assertEquals(200, r.statusCode(), () -> "status of " + uri + ": " + r.body());
    return r.body();
  }
}
