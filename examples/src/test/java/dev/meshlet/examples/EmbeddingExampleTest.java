package dev.meshlet.examples;

import static org.assertj.core.api.Assertions.assertThat;

import dev.meshlet.core.Backend;
import dev.meshlet.core.Balancer;
import dev.meshlet.core.Cluster;
import dev.meshlet.l4.TcpProxy;
import dev.meshlet.l7.HttpProxy;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * How to embed meshlet in an integration test: real backends on ephemeral ports, a proxy in front
 * of them, a client pointed at {@code proxy.port()}. Copy this class as a starting point.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class EmbeddingExampleTest {
  static {
    // lets the JDK client send the Host header the admin route matches on
    System.setProperty("jdk.httpclient.allowRestrictedHeaders", "host");
  }

  private static final List<NamedBackend> backends = new ArrayList<>();
  private static Cluster api;
  private static Cluster admin;
  private static Cluster web;
  private final HttpClient client = HttpClient.newHttpClient();

  @BeforeAll
  static void startBackends() throws Exception {
    api = pool("api", "api-1", "api-2");
    admin = pool("admin", "admin-1");
    web = pool("web", "web-1", "web-2");
  }

  @AfterAll
  static void stopBackends() throws Exception {
    for (NamedBackend b : backends) {
      b.close();
    }
  }

  private static Cluster pool(String name, String... names) throws Exception {
    Cluster.Builder c = Cluster.builder(name).balancer(Balancer.roundRobin());
    for (String n : names) {
      NamedBackend b = NamedBackend.start(n);
      backends.add(b);
      c.backends(Backend.of("127.0.0.1", b.port()).withName(n));
    }
    return c.build();
  }

  private String get(HttpProxy proxy, String path, String... headers) throws Exception {
    HttpRequest.Builder request =
        HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + proxy.port() + path));
    for (int i = 0; i < headers.length; i += 2) {
      request.header(headers[i], headers[i + 1]);
    }
    HttpResponse<String> response =
        client.send(request.build(), HttpResponse.BodyHandlers.ofString());
    assertThat(response.statusCode()).isEqualTo(200);
    return response.body().strip();
  }

  @Test
  void l7RoutesByPathHostAndHeaderAndBalancesInsideAPool() throws Exception {
    try (HttpProxy proxy =
        HttpProxy.builder()
            .listen("127.0.0.1", 0)
            .route(r -> r.pathPrefix("/api/").to(api))
            .route(r -> r.host("admin.example.com").to(admin))
            .defaultRoute(web)
            .start()) {
      // round robin inside the api pool
      assertThat(get(proxy, "/api/users")).isEqualTo("api-1: GET /api/users");
      assertThat(get(proxy, "/api/users")).isEqualTo("api-2: GET /api/users");
      assertThat(get(proxy, "/api/users?page=2")).isEqualTo("api-1: GET /api/users?page=2");
      // Host-based route
      assertThat(get(proxy, "/", "Host", "admin.example.com")).isEqualTo("admin-1: GET /");
      // everything else goes to the default pool
      assertThat(get(proxy, "/index.html")).startsWith("web-");
    }
  }

  @Test
  void l4BalancesConnectionsOverThePool() throws Exception {
    try (TcpProxy proxy = TcpProxy.builder().listen("127.0.0.1", 0).cluster(web).start()) {
      List<String> servedBy = new ArrayList<>();
      for (int i = 0; i < 4; i++) {
        servedBy.add(rawGet(proxy.port(), "/hello"));
      }
      assertThat(servedBy).containsOnly("web-1: GET /hello", "web-2: GET /hello");
      assertThat(servedBy).filteredOn(s -> s.startsWith("web-1")).hasSize(2);
    }
  }

  /** An HTTP/1.1 request on a plain socket: the L4 proxy only moves its bytes. */
  private static String rawGet(int port, String path) throws IOException {
    try (Socket s = new Socket(InetAddress.getLoopbackAddress(), port)) {
      s.setSoTimeout(10_000);
      OutputStream out = s.getOutputStream();
      out.write(
          ("GET " + path + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
              .getBytes(StandardCharsets.US_ASCII));
      InputStream in = s.getInputStream();
      String response = new String(in.readAllBytes(), StandardCharsets.UTF_8);
      assertThat(response).startsWith("HTTP/1.1 200");
      return response.substring(response.indexOf("\r\n\r\n") + 4).strip();
    }
  }
}
