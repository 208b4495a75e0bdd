package dev.meshlet.l7;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.meshlet.core.Cluster;
import dev.meshlet.testkit.Await;
import dev.meshlet.testkit.NoLeakedThreads;
import java.net.BindException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.eclipse.jetty.io.ManagedSelector;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

@ExtendWith(NoLeakedThreads.class)
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class LifecycleTest {
  static TestBackend backend;
  static final HttpClient http =
      HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();

  @BeforeAll
  static void start() throws Exception {
    backend = TestBackend.named("b");
  }

  @AfterAll
  static void stop() throws Exception {
    backend.close();
    http.close();
  }

  static Cluster pool() {
    return Cluster.of("b", backend.backend());
  }

  static long proxyThreads() {
    return Thread.getAllStackTraces().keySet().stream()
        .filter(t -> t.getName().startsWith("meshlet-l7"))
        .count();
  }

  @Test
  void aRequestsAcceptedAndUpstreamConnectionsShareOneSelector() throws Exception {
    for (int selectors : new int[] {1, 2, 3}) {
      try (HttpProxy proxy =
              HttpProxy.builder()
                  .listen("127.0.0.1", 0)
                  .selectorThreads(selectors)
                  .defaultRoute(pool())
                  .start();
          Socket client = new Socket("127.0.0.1", proxy.port())) {
        client.setSoTimeout(20_000);
        client
            .getOutputStream()
            .write("GET /s HTTP/1.1\r\nHost: h\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
        assertThat(Raw.parse(Raw.readResponses(client.getInputStream(), 1)).status())
            .isEqualTo(200);
        // both connections stay open (client keep-alive, pooled upstream): count keys per selector
        List<Integer> keys =
            proxy.connector().getSelectorManager().getBeans(ManagedSelector.class).stream()
                .map(ManagedSelector::getTotalKeys)
                .toList();
        assertThat(keys)
            .as("keys per selector with %d selectors", selectors)
            .hasSize(selectors)
            .contains(2)
            .allMatch(k -> k == 0 || k == 2);
      }
    }
    assertThatThrownBy(
            () ->
                HttpProxy.builder()
                    .listen("127.0.0.1", 0)
                    .selectorThreads(6)
                    .maxThreads(8)
                    .defaultRoute(pool())
                    .start())
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("maxThreads");
  }

  @Test
  void ipLiteralsResolveInlineAndNamesAsynchronously() {
    assertThat(SharedSelectorConnector.LiteralsInline.isLiteral("127.0.0.1")).isTrue();
    assertThat(SharedSelectorConnector.LiteralsInline.isLiteral("::1")).isTrue();
    assertThat(SharedSelectorConnector.LiteralsInline.isLiteral("[::1]")).isTrue();
    assertThat(SharedSelectorConnector.LiteralsInline.isLiteral("localhost")).isFalse();
    assertThat(SharedSelectorConnector.LiteralsInline.isLiteral("1.2.3")).isFalse();
    assertThat(SharedSelectorConnector.LiteralsInline.isLiteral("10.0.0.1.example")).isFalse();
  }

  @Test
  void closeFreesThePortStopsEveryThreadAndIsIdempotent() throws Exception {
    HttpProxy proxy =
        HttpProxy.builder().listen("127.0.0.1", 0).defaultRoute(pool()).accessLog(true).start();
    int port = proxy.port();
    assertThat(port).isPositive();
    assertThat(proxy.uri().toString()).isEqualTo("http://127.0.0.1:" + port + "/");
    assertThat(
            http.send(
                    HttpRequest.newBuilder(proxy.uri()).build(),
                    HttpResponse.BodyHandlers.ofString())
                .body())
        .isEqualTo("b");
    assertThat(proxyThreads()).isPositive();
    proxy.close();
    proxy.close();
    try (ServerSocket again = new ServerSocket(port, 50, InetAddress.getByName("127.0.0.1"))) {
      assertThat(again.getLocalPort()).isEqualTo(port);
    }
    Await.until("proxy threads gone", () -> proxyThreads() == 0);
  }

  @Test
  void listenOnAllInterfacesStillGivesALoopbackUri() throws Exception {
    try (HttpProxy proxy = HttpProxy.builder().listen(0).defaultRoute(pool()).start()) {
      assertThat(proxy.address().getAddress().isAnyLocalAddress()).isTrue();
      assertThat(proxy.uri().getHost()).isEqualTo("127.0.0.1");
      assertThat(
              http.send(
                      HttpRequest.newBuilder(proxy.uri()).build(),
                      HttpResponse.BodyHandlers.ofString())
                  .statusCode())
          .isEqualTo(200);
    }
  }

  @Test
  void portInUseIsABindExceptionNamingTheAddress() throws Exception {
    try (ServerSocket taken = new ServerSocket(0, 50, InetAddress.getByName("127.0.0.1"))) {
      int port = taken.getLocalPort();
      assertThatThrownBy(
              () -> HttpProxy.builder().listen("127.0.0.1", port).defaultRoute(pool()).start())
          .isInstanceOf(BindException.class)
          .hasMessage("listen 127.0.0.1:" + port + ": address already in use");
    }
    // 192.0.2.1 (TEST-NET-1) is no address of this machine: not "in use", and said so
    assertThatThrownBy(
            () -> HttpProxy.builder().listen("192.0.2.1", 0).defaultRoute(pool()).start())
        .isInstanceOf(BindException.class)
        .hasMessageStartingWith("listen 192.0.2.1:0: cannot bind (");
    Await.until("threads of the failed start gone", () -> proxyThreads() == 0);
  }

  @Test
  void closeDrainsRequestsInFlight() throws Exception {
    CountDownLatch arrived = new CountDownLatch(1);
    try (TestBackend slow =
        TestBackend.with(
            "slow",
            (request, response, callback) -> {
              arrived.countDown();
              Thread.ofVirtual()
                  .start(
                      () -> {
                        try {
                          // a slow backend: longer than the 1 s to which Jetty's connector shutdown
                          // would cut the
                          // idle timeout of the client's connection (which then fails the request
                          // with a 500)
                          Thread.sleep(2_000);
                        } catch (InterruptedException ignored) {
                          // stop
                        }
                        response.write(
                            true,
                            ByteBuffer.wrap("done".getBytes(StandardCharsets.US_ASCII)),
                            callback);
                      });
              return true;
            })) {
      HttpProxy proxy =
          HttpProxy.builder()
              .listen("127.0.0.1", 0)
              .drainTimeout(Duration.ofSeconds(10))
              .defaultRoute(Cluster.of("slow", slow.backend()))
              .start();
      CompletableFuture<HttpResponse<String>> pending =
          http.sendAsync(
              HttpRequest.newBuilder(proxy.uri().resolve("/slow")).build(),
              HttpResponse.BodyHandlers.ofString());
      assertThat(arrived.await(20, TimeUnit.SECONDS)).isTrue();
      proxy.close();
      HttpResponse<String> r = pending.get(20, TimeUnit.SECONDS);
      assertThat(r.statusCode()).isEqualTo(200);
      assertThat(r.body()).isEqualTo("done");
    }
  }

  @Test
  void badConfigurationSaysWhatToFix() {
    assertThatThrownBy(() -> HttpProxy.builder().defaultRoute(pool()).start())
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("listen");
    assertThatThrownBy(() -> HttpProxy.builder().listen(0).start())
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("no routes");
    assertThatThrownBy(() -> HttpProxy.builder().listen(0).route(r -> r.pathPrefix("/a/")).start())
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("no target");
    assertThatThrownBy(() -> HttpProxy.builder().listen(0).route(r -> r.pathPrefix("api")))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("starting with /");
    assertThatThrownBy(() -> HttpProxy.builder().route(r -> r.pathRegex("([a-z")))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("pathRegex '([a-z'");
    assertThatThrownBy(() -> HttpProxy.builder().route(r -> r.to(pool()).to(pool())))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("target set twice");
    assertThatThrownBy(() -> HttpProxy.builder().route(r -> r.split(s -> s.to(pool(), 0))))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("expected: 1-1000000");
    assertThatThrownBy(() -> HttpProxy.builder().route(r -> r.host("a.*.com")))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("*.example.com");
    assertThatThrownBy(() -> HttpProxy.builder().route(r -> r.addRequestHeader("X-A", "a\r\nb")))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("CR, LF");
    assertThatThrownBy(() -> HttpProxy.builder().responseTimeout(Duration.ZERO))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("responseTimeout");
    assertThatThrownBy(() -> HttpProxy.builder().trustedProxies("10.0.0.0/33"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("prefix length");
    assertThatThrownBy(() -> HttpProxy.builder().trustedProxies("proxy.example.com"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("CIDR");
    assertThatThrownBy(
            () ->
                HttpProxy.builder()
                    .listen(0)
                    .route(r -> r.name("x").to(pool()))
                    .route(r -> r.name("x").to(pool()))
                    .start())
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("used twice");
    assertThatThrownBy(() -> HttpProxy.builder().listen(70000))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("0-65535");
  }
}
