package dev.meshlet.junit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.meshlet.core.Cluster;
import dev.meshlet.l4.TcpProxy;
import dev.meshlet.l7.HttpProxy;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.ConnectException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AutoClose;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The test backends answer as documented, directly and behind both proxies. */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class TestBackendsTest {
  @AutoClose static final TestBackends<HttpTestBackend> web = TestBackends.http(3);
  @AutoClose static final TestBackends<TcpTestBackend> echo = TestBackends.tcpEcho(1);

  static final HttpClient http =
      HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

  static HttpResponse<String> get(URI uri) throws IOException, InterruptedException {
    return http.send(
        HttpRequest.newBuilder(uri).timeout(Duration.ofSeconds(10)).build(),
        HttpResponse.BodyHandlers.ofString());
  }

  @Test
  void answersWithItsNameStatusSizeAndDelay() throws Exception {
    HttpTestBackend a = web.get(0);
    HttpResponse<String> plain = get(a.uri());
    assertThat(plain.statusCode()).isEqualTo(200);
    assertThat(plain.body()).isEqualTo("backend-1\n");
    assertThat(plain.headers().firstValue("X-Backend")).hasValue("backend-1");

    assertThat(get(a.uri().resolve("/x?status=503")).statusCode()).isEqualTo(503);
    assertThat(get(a.uri().resolve("/x?size=100000")).body()).hasSize(100_000);
    assertThat(get(a.uri().resolve("/x?size=0")).body()).isEmpty();

    long t0 = System.nanoTime();
    assertThat(get(a.uri().resolve("/x?delay=300ms")).statusCode()).isEqualTo(200);
    assertThat(Duration.ofNanos(System.nanoTime() - t0)).isGreaterThanOrEqualTo(ms(300));
  }

  @Test
  void echoesTheRequest() throws Exception {
    HttpResponse<String> r =
        http.send(
            HttpRequest.newBuilder(web.get(1).uri().resolve("/echo?q=1"))
                .header("X-Trace", "t-42")
                .POST(HttpRequest.BodyPublishers.ofString("hello body"))
                .build(),
            HttpResponse.BodyHandlers.ofString());
    assertThat(r.statusCode()).isEqualTo(200);
    assertThat(r.body())
        .startsWith("POST /echo?q=1 HTTP/1.1\n")
        .containsIgnoringCase("x-trace: t-42\n")
        .endsWith("\n\nhello body");
  }

  @Test
  void namesWhatItCannotRead() throws Exception {
    for (String bad : List.of("status=99", "status=abc", "size=-1", "delay=soon", "delay=1h")) {
      HttpResponse<String> r = get(web.get(0).uri().resolve("/x?" + bad));
      assertThat(r.statusCode()).as(bad).isEqualTo(400);
      assertThat(r.body()).as(bad).startsWith(bad.substring(0, bad.indexOf('=') + 1));
    }
  }

  @Test
  void spreadsBehindAnHttpProxy() throws Exception {
    Cluster cluster = Cluster.builder("web").backends(web.backends()).build();
    try (HttpProxy proxy =
        HttpProxy.builder().listen("127.0.0.1", 0).defaultRoute(cluster).start()) {
      List<String> seen = new ArrayList<>();
      for (int i = 0; i < 3; i++) {
        seen.add(get(proxy.uri()).headers().firstValue("X-Backend").orElseThrow());
      }
      assertThat(seen).containsExactlyInAnyOrder("backend-1", "backend-2", "backend-3");
    } finally {
      cluster.close();
    }
  }

  @Test
  void echoesAndHalfClosesBehindATcpProxy() throws Exception {
    TcpTestBackend e = echo.get(0);
    long before = e.connections();
    try (TcpProxy proxy =
            TcpProxy.builder().listen("127.0.0.1", 0).backends(echo.backends()).start();
        Socket s = new Socket()) {
      s.connect(new InetSocketAddress("127.0.0.1", proxy.port()), 5000);
      s.setSoTimeout(10_000);
      OutputStream out = s.getOutputStream();
      out.write("ping over tcp".getBytes(StandardCharsets.US_ASCII));
      s.shutdownOutput();
      InputStream in = s.getInputStream();
      assertThat(new String(in.readAllBytes(), StandardCharsets.US_ASCII))
          .isEqualTo("ping over tcp"); // readAllBytes returns: the backend's FIN came through
    }
    assertThat(e.connections()).isEqualTo(before + 1);
  }

  @Test
  void closingFreesThePort() throws Exception {
    HttpTestBackend b = HttpTestBackend.start("short-lived");
    int port = b.port();
    assertThat(get(b.uri()).body()).isEqualTo("short-lived\n");
    assertThat(b.requests()).isEqualTo(1);
    b.close();
    assertThatThrownBy(() -> new Socket("127.0.0.1", port).close())
        .isInstanceOf(ConnectException.class);
  }

  @Test
  void rejectsAnEmptyGroup() {
    assertThatThrownBy(() -> TestBackends.http(0))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("expected: >= 1");
  }

  private static Duration ms(long n) {
    return Duration.ofMillis(n);
  }
}
