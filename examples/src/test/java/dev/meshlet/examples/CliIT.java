package dev.meshlet.examples;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The runnable jar end to end: started as a real process, driven over real sockets, stopped with
 * SIGTERM.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class CliIT extends CliSupport {
  private String get(int port, String path) throws Exception {
    HttpResponse<String> r =
        http.send(
            HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path)).build(),
            HttpResponse.BodyHandlers.ofString());
    assertThat(r.statusCode()).isEqualTo(200);
    return r.body().strip();
  }

  /** A GET on a plain socket, so that any Host header can be sent; returns the body. */
  private static String rawGet(int port, String path, String host) throws Exception {
    try (Socket s = new Socket(InetAddress.getLoopbackAddress(), port)) {
      s.setSoTimeout(20_000);
      OutputStream out = s.getOutputStream();
      out.write(
          ("GET " + path + " HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n\r\n")
              .getBytes(StandardCharsets.US_ASCII));
      String response = new String(s.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      assertThat(response).startsWith("HTTP/1.1 200");
      return response.substring(response.indexOf("\r\n\r\n") + 4).strip();
    }
  }

  @Test
  void l7RoutesAsConfiguredAndStopsCleanlyOnSigterm() throws Exception {
    NamedBackend api = backend("api-1");
    NamedBackend web = backend("web-1");
    NamedBackend v2 = backend("v2-1");
    NamedBackend admin = backend("admin-1");
    Jar jar =
        new Jar(
            "l7",
            "--listen",
            "127.0.0.1:0",
            "--header-route",
            "X-API-Version:v2=127.0.0.1:" + v2.port(),
            "--route",
            "/api/=127.0.0.1:" + api.port(),
            "--host-route",
            "admin.example.com=127.0.0.1:" + admin.port(),
            "--default",
            "127.0.0.1:" + web.port());
    int port = jar.awaitListening();
    assertThat(get(port, "/api/orders")).isEqualTo("api-1: GET /api/orders");
    assertThat(get(port, "/")).isEqualTo("web-1: GET /");
    assertThat(rawGet(port, "/", "admin.example.com")).isEqualTo("admin-1: GET /");
    // the header route comes first on the command line, so it wins over the path route
    HttpResponse<String> v =
        http.send(
            HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/api/x"))
                .header("X-API-Version", "v2")
                .build(),
            HttpResponse.BodyHandlers.ofString());
    assertThat(v.body().strip()).isEqualTo("v2-1: GET /api/x");
    jar.process.destroy(); // SIGTERM
    assertThat(jar.exitCode(Duration.ofSeconds(15))).isZero();
  }

  @Test
  void l7WritesJsonAccessLinesWithTheTraceItStarted() throws Exception {
    NamedBackend web = backend("web-1");
    Jar jar =
        new Jar(
            "l7",
            "--listen",
            "127.0.0.1:0",
            "--default",
            "127.0.0.1:" + web.port(),
            "--access-log-format=json",
            "--generate-traceparent");
    int port = jar.awaitListening();
    assertThat(get(port, "/j")).isEqualTo("web-1: GET /j");
    jar.process.destroy(); // the log is written before the drain ends, on standard error
    assertThat(jar.exitCode(Duration.ofSeconds(15))).isZero();
    String line =
        jar.stderr
            .toString()
            .lines()
            .filter(l -> l.contains("\"path\":\"/j\""))
            .findFirst()
            .orElseThrow();
    assertThat(line)
        .containsPattern("\"trace_id\":\"[0-9a-f]{32}\"")
        .contains("\"status\":200", "\"backend\":\"127.0.0.1:" + web.port() + "\"");
  }

  @Test
  void l7SigtermLetsARequestInFlightFinish() throws Exception {
    CountDownLatch arrived = new CountDownLatch(1);
    ServerSocket slow = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
    resources.track(slow);
    Thread.ofVirtual()
        .start(
            () -> {
              try (Socket s = slow.accept()) {
                BufferedReader in =
                    new BufferedReader(
                        new InputStreamReader(s.getInputStream(), StandardCharsets.US_ASCII));
                while (!in.readLine().isEmpty()) {
                  // the request head
                }
                arrived.countDown();
                Thread.sleep(
                    2_000); // a slow backend: longer than Jetty's 1 s idle timeout on shutdown
                s.getOutputStream()
                    .write(
                        "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ndone"
                            .getBytes(StandardCharsets.US_ASCII));
              } catch (Exception ignored) {
                // the test fails on the client side
              }
            });
    Jar jar =
        new Jar("l7", "--listen", "127.0.0.1:0", "--default", "127.0.0.1:" + slow.getLocalPort());
    int port = jar.awaitListening();
    CompletableFuture<HttpResponse<String>> inFlight =
        http.sendAsync(
            HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/slow")).build(),
            HttpResponse.BodyHandlers.ofString());
    assertThat(arrived.await(30, TimeUnit.SECONDS)).isTrue();
    // SIGTERM; unlike Process.destroy(), ProcessHandle.destroy() leaves the process's output
    // readable
    jar.process.toHandle().destroy();
    jar.awaitLine("draining");
    HttpResponse<String> r = inFlight.get(30, TimeUnit.SECONDS);
    assertThat(r.statusCode()).isEqualTo(200);
    assertThat(r.body()).isEqualTo("done");
    assertThat(jar.exitCode(Duration.ofSeconds(15))).isZero();
  }

  @Test
  void l4ForwardsAndStopsCleanlyOnSigterm() throws Exception {
    NamedBackend a = backend("a");
    NamedBackend b = backend("b");
    Jar jar =
        new Jar(
            "l4",
            "--listen",
            "127.0.0.1:0",
            "--backend",
            "127.0.0.1:" + a.port(),
            "--backend",
            "127.0.0.1:" + b.port(),
            "--balancer",
            "round-robin");
    int port = jar.awaitListening();
    List<String> seen = new ArrayList<>();
    for (int i = 0; i < 2; i++) {
      HttpClient fresh =
          HttpClient.newHttpClient(); // a new connection each time: L4 balances connections
      seen.add(
          fresh
              .send(
                  HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/t")).build(),
                  HttpResponse.BodyHandlers.ofString())
              .body()
              .strip());
      fresh.close();
    }
    assertThat(seen).containsExactlyInAnyOrder("a: GET /t", "b: GET /t");
    jar.process.destroy();
    assertThat(jar.exitCode(Duration.ofSeconds(15))).isZero();
  }

  @Test
  void demoServesTheRoutingTable() throws Exception {
    Jar jar = new Jar("demo", "--http-port", "0", "--tcp-port", "0");
    int port = jar.awaitListening(); // the L7 line comes first
    int tcpPort = jar.awaitListening();
    assertThat(List.of(get(port, "/api/users"), get(port, "/api/users")))
        .containsExactlyInAnyOrder("api-1: GET /api/users", "api-2: GET /api/users");
    assertThat(get(port, "/static/logo.png")).isEqualTo("static-1: GET /static/logo.png");
    assertThat(rawGet(port, "/", "admin.example.com")).isEqualTo("admin-1: GET /");
    HttpResponse<String> v =
        http.send(
            HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/orders"))
                .header("X-API-Version", "v2")
                .build(),
            HttpResponse.BodyHandlers.ofString());
    assertThat(v.body().strip()).isEqualTo("v2-1: GET /orders");
    assertThat(get(port, "/")).matches("web-[12]: GET /");
    assertThat(rawGet(tcpPort, "/anything", "localhost")).matches("web-[12]: GET /anything");
    jar.process.destroy();
    assertThat(jar.exitCode(Duration.ofSeconds(15))).isZero();
  }

  /**
   * A backend on 127.0.0.1 that reads one request head, stays silent for {@code silence}, then
   * answers 200 "late"; the socket stays open until the test ends.
   */
  private ServerSocket slowBackend(Duration silence, CountDownLatch arrived) throws Exception {
    ServerSocket server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
    resources.track(server);
    Thread.ofVirtual()
        .start(
            () -> {
              try (Socket s = server.accept()) {
                BufferedReader in =
                    new BufferedReader(
                        new InputStreamReader(s.getInputStream(), StandardCharsets.US_ASCII));
                while (!in.readLine().isEmpty()) {
                  // the request head
                }
                arrived.countDown();
                Thread.sleep(silence); // the backend's own slowness, not a wait for a condition
                s.getOutputStream()
                    .write(
                        "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nlate"
                            .getBytes(StandardCharsets.US_ASCII));
                in.read(); // until the proxy closes the connection or the test ends
              } catch (Exception ignored) {
                // the test fails on the client side
              }
            });
    return server;
  }

  @Test
  void l7ResponseTimeoutShortensTheBackendDeadline() throws Exception {
    CountDownLatch arrived = new CountDownLatch(1);
    ServerSocket slow = slowBackend(Duration.ofSeconds(30), arrived);
    Jar jar =
        new Jar(
            "l7",
            "--listen",
            "127.0.0.1:0",
            "--default",
            "127.0.0.1:" + slow.getLocalPort(),
            "--response-timeout",
            "1s");
    int port = jar.awaitListening();
    long start = System.nanoTime();
    HttpResponse<String> r =
        http.send(
            HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/slow"))
                .timeout(Duration.ofSeconds(30))
                .build(),
            HttpResponse.BodyHandlers.ofString());
    Duration took = Duration.ofNanos(System.nanoTime() - start);
    assertThat(arrived.getCount()).as("the request reached the backend").isZero();
    assertThat(r.statusCode()).isEqualTo(504);
    assertThat(took)
        .isGreaterThanOrEqualTo(Duration.ofSeconds(1))
        .isLessThan(Duration.ofSeconds(10));
    jar.process.destroy();
    assertThat(jar.exitCode(Duration.ofSeconds(15))).isZero();
  }

  @Test
  void l7ResponseTimeoutExtendsPastTheUpstreamIdleTimeout() throws Exception {
    // 17 s of silence: longer than the 15 s the proxy gives a silent backend by default
    CountDownLatch arrived = new CountDownLatch(1);
    ServerSocket slow = slowBackend(Duration.ofSeconds(17), arrived);
    Jar jar =
        new Jar(
            "l7",
            "--listen",
            "127.0.0.1:0",
            "--route",
            "/slow=127.0.0.1:" + slow.getLocalPort(),
            "--response-timeout",
            "25s");
    int port = jar.awaitListening();
    HttpResponse<String> r =
        http.send(
            HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/slow"))
                .timeout(Duration.ofSeconds(60))
                .build(),
            HttpResponse.BodyHandlers.ofString());
    assertThat(r.statusCode()).isEqualTo(200);
    assertThat(r.body()).isEqualTo("late");
    jar.process.destroy();
    assertThat(jar.exitCode(Duration.ofSeconds(15))).isZero();
  }
}
