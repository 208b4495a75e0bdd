package dev.meshlet.l7;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.meshlet.core.Backend;
import dev.meshlet.core.Cluster;
import dev.meshlet.testkit.Await;
import dev.meshlet.testkit.NoLeakedThreads;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.eclipse.jetty.util.Callback;
import org.eclipse.jetty.util.FutureCallback;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

@ExtendWith(NoLeakedThreads.class)
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class ErrorsTest {
  static final HttpClient http =
      HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();

  @AfterAll
  static void close() {
    http.close();
  }

  static void await(String what, BooleanSupplier condition) {
    Await.until(what, condition);
  }

  static int freePortNobodyListensOn() throws IOException {
    try (ServerSocket s = new ServerSocket(0)) {
      return s.getLocalPort();
    }
  }

  static HttpResponse<String> get(HttpProxy proxy, String path) throws Exception {
    return http.send(
        HttpRequest.newBuilder(proxy.uri().resolve(path)).build(),
        HttpResponse.BodyHandlers.ofString());
  }

  @Test
  void refusedConnectionIs502WithShortBody() throws Exception {
    Cluster dead = Cluster.of("dead", Backend.of("127.0.0.1", freePortNobodyListensOn()));
    try (HttpProxy proxy = HttpProxy.builder().listen("127.0.0.1", 0).defaultRoute(dead).start()) {
      HttpResponse<String> r = get(proxy, "/x");
      assertThat(r.statusCode()).isEqualTo(502);
      assertThat(r.body()).isEqualTo("502 Bad Gateway\n");
      HttpProxyStats s = Idle.await(proxy).stats();
      assertThat(s.total().errors(HttpProxyStats.ErrorKind.BAD_GATEWAY)).isEqualTo(1);
      assertThat(s.routes().get("default").status5xx()).isEqualTo(1);
      assertThat(s.routes().get("default").errors(HttpProxyStats.ErrorKind.BAD_GATEWAY))
          .isEqualTo(1);
      String name = dead.endpoints().get(0).backend().displayName();
      assertThat(s.backends().get(name).errors(HttpProxyStats.ErrorKind.BAD_GATEWAY)).isEqualTo(1);
      assertThat(s.backends().get(name).status5xx()).isEqualTo(1);
      assertThat(dead.endpoints().get(0).stats().failures()).isEqualTo(1);
      assertThat(dead.endpoints().get(0).stats().active()).isZero();
    }
  }

  @Test
  void resetBeforeAnswerIs502() throws Exception {
    try (ServerSocket rude = new ServerSocket(0, 50, InetAddress.getLoopbackAddress())) {
      Thread t =
          Thread.ofVirtual()
              .start(
                  () -> {
                    try (Socket s = rude.accept()) {
                      s.getInputStream().read(new byte[1024]);
                      s.setSoLinger(true, 0); // RST
                    } catch (IOException ignored) {
                      // test ends
                    }
                  });
      Cluster c = Cluster.of("rude", Backend.of("127.0.0.1", rude.getLocalPort()));
      try (HttpProxy proxy = HttpProxy.builder().listen("127.0.0.1", 0).defaultRoute(c).start()) {
        assertThat(get(proxy, "/x").statusCode()).isEqualTo(502);
      }
      t.join();
    }
  }

  @Test
  void emptyClusterIs503() throws Exception {
    Cluster empty = Cluster.builder("empty").build();
    try (HttpProxy proxy = HttpProxy.builder().listen("127.0.0.1", 0).defaultRoute(empty).start()) {
      HttpResponse<String> r = get(proxy, "/x");
      assertThat(r.statusCode()).isEqualTo(503);
      assertThat(r.body()).hasSizeLessThan(64);
      assertThat(Idle.await(proxy).stats().total().errors(HttpProxyStats.ErrorKind.NO_BACKEND))
          .isEqualTo(1);
    }
  }

  @Test
  void slowBackendIs504AfterResponseTimeout() throws Exception {
    CountDownLatch release = new CountDownLatch(1);
    try (TestBackend slow =
            TestBackend.with(
                "slow",
                (request, response, callback) -> {
                  Thread.ofVirtual()
                      .start(
                          () -> {
                            try {
                              release.await(30, TimeUnit.SECONDS);
                            } catch (InterruptedException ignored) {
                              // stop
                            }
                            callback.succeeded();
                          });
                  return true;
                });
        HttpProxy proxy =
            HttpProxy.builder()
                .listen("127.0.0.1", 0)
                .responseTimeout(Duration.ofMillis(300))
                .defaultRoute(Cluster.of("slow", slow.backend()))
                .start()) {
      long start = System.nanoTime();
      HttpResponse<String> r = get(proxy, "/x");
      long millis = (System.nanoTime() - start) / 1_000_000;
      assertThat(r.statusCode()).isEqualTo(504);
      assertThat(r.body()).isEqualTo("504 Gateway Timeout\n");
      assertThat(millis).isGreaterThanOrEqualTo(250);
      assertThat(Idle.await(proxy).stats().total().errors(HttpProxyStats.ErrorKind.GATEWAY_TIMEOUT))
          .isEqualTo(1);
      release.countDown();
    }
  }

  @Test
  void backendDyingMidBodyAbortsTheClientConnection() throws Exception {
    for (boolean chunked : new boolean[] {false, true}) {
      try (TestBackend dying =
              TestBackend.with(
                  "dying",
                  (request, response, callback) -> {
                    if (!chunked) {
                      response.getHeaders().put("Content-Length", 100_000);
                    }
                    response.write(
                        false,
                        ByteBuffer.wrap(new byte[10_000]),
                        Callback.from(
                            () -> callback.failed(new IOException("backend dies")),
                            callback::failed));
                    return true;
                  });
          HttpProxy proxy =
              HttpProxy.builder()
                  .listen("127.0.0.1", 0)
                  .defaultRoute(Cluster.of("dying", dying.backend()))
                  .start()) {
        assertThatThrownBy(
                () ->
                    http.send(
                        HttpRequest.newBuilder(proxy.uri().resolve("/x")).build(),
                        HttpResponse.BodyHandlers.ofByteArray()))
            .as("chunked=" + chunked)
            .isInstanceOf(IOException.class);
        Raw.Reply raw =
            Raw.exchange(proxy.port(), "GET /y HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
        assertThat(raw.status()).isEqualTo(200);
        if (chunked) {
          assertThat(raw.body()).as("no terminating chunk").doesNotEndWith("0\r\n\r\n");
        } else {
          assertThat(raw.body().length()).isLessThan(100_000);
        }
        await(
            "upstream abort counted",
            () -> proxy.stats().total().errors(HttpProxyStats.ErrorKind.UPSTREAM_ABORTED) == 2);
      }
    }
  }

  @Test
  void clientGoingAwayAbortsTheUpstreamExchange() throws Exception {
    CountDownLatch backendSawFailure = new CountDownLatch(1);
    try (TestBackend streaming =
            TestBackend.with(
                "stream",
                (request, response, callback) -> {
                  Thread.ofVirtual()
                      .start(
                          () -> {
                            byte[] piece = new byte[8192];
                            try {
                              for (int i = 0; i < 100_000; i++) {
                                FutureCallback cb = new FutureCallback();
                                response.write(false, ByteBuffer.wrap(piece), cb);
                                cb.get(20, TimeUnit.SECONDS);
                              }
                              callback.succeeded();
                            } catch (Exception e) {
                              backendSawFailure.countDown();
                              callback.failed(e);
                            }
                          });
                  return true;
                });
        HttpProxy proxy =
            HttpProxy.builder()
                .listen("127.0.0.1", 0)
                .defaultRoute(Cluster.of("stream", streaming.backend()))
                .start()) {
      try (Socket s = new Socket("127.0.0.1", proxy.port())) {
        s.getOutputStream()
            .write("GET /big HTTP/1.1\r\nHost: h\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
        InputStream in = s.getInputStream();
        in.readNBytes(50_000);
        s.setSoLinger(true, 0);
      }
      assertThat(backendSawFailure.await(20, TimeUnit.SECONDS))
          .as("backend's writes fail once the proxy aborts")
          .isTrue();
      await("exchange ended", () -> proxy.stats().total().inFlight() == 0);
      assertThat(proxy.stats().total().errors(HttpProxyStats.ErrorKind.CLIENT_ABORTED))
          .isEqualTo(1);
    }
  }

  /**
   * Jetty does not watch a connection for EOF while a request without body is being handled, so a
   * client that leaves before the backend answers is noticed when the first bytes are written to it
   * (or at the response timeout); then the upstream exchange is aborted, not drained.
   */
  @Test
  void clientGoneBeforeTheResponseIsNoticedAtTheFirstWriteAndAbortsUpstream() throws Exception {
    CountDownLatch release = new CountDownLatch(1);
    CountDownLatch backendSawFailure = new CountDownLatch(1);
    try (TestBackend late =
            TestBackend.with(
                "late",
                (request, response, callback) -> {
                  Thread.ofVirtual()
                      .start(
                          () -> {
                            try {
                              release.await(30, TimeUnit.SECONDS);
                              byte[] piece = new byte[8192];
                              for (int i = 0; i < 100_000; i++) {
                                FutureCallback cb = new FutureCallback();
                                response.write(false, ByteBuffer.wrap(piece), cb);
                                cb.get(20, TimeUnit.SECONDS);
                              }
                              callback.succeeded();
                            } catch (Exception e) {
                              backendSawFailure.countDown();
                              callback.failed(e);
                            }
                          });
                  return true;
                });
        HttpProxy proxy =
            HttpProxy.builder()
                .listen("127.0.0.1", 0)
                .responseTimeout(Duration.ofSeconds(30))
                .defaultRoute(Cluster.of("late", late.backend()))
                .start()) {
      try (Socket s = new Socket("127.0.0.1", proxy.port())) {
        s.getOutputStream()
            .write("GET /wait HTTP/1.1\r\nHost: h\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
        await("request reached the backend", () -> late.requests.size() == 1);
        s.setSoLinger(true, 0);
      }
      release.countDown();
      assertThat(backendSawFailure.await(20, TimeUnit.SECONDS)).isTrue();
      await("exchange ended", () -> proxy.stats().total().inFlight() == 0);
      assertThat(proxy.stats().total().errors(HttpProxyStats.ErrorKind.CLIENT_ABORTED))
          .isEqualTo(1);
    }
  }
}
