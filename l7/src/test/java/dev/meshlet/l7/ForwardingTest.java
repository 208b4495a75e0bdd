package dev.meshlet.l7;

import static org.assertj.core.api.Assertions.assertThat;

import dev.meshlet.core.Cluster;
import dev.meshlet.testkit.Await;
import dev.meshlet.testkit.NoLeakedThreads;
import java.io.InputStream;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

/** Bodies through the proxy byte-exact both ways, trailers, and the upstream connection pool. */
@ExtendWith(NoLeakedThreads.class)
@Timeout(value = 90, unit = TimeUnit.SECONDS)
class ForwardingTest extends ForwardingTestSupport {
  @Test
  void keepAliveReusesUpstreamConnections() throws Exception {
    try (TestBackend counted = TestBackend.named("counted");
        HttpProxy p =
            HttpProxy.builder()
                .listen("127.0.0.1", 0)
                .defaultRoute(Cluster.of("c", counted.backend()))
                .start()) {
      for (int i = 0; i < 100; i++) {
        HttpResponse<String> r =
            http.send(
                HttpRequest.newBuilder(p.uri().resolve("/k" + i)).build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(r.body()).isEqualTo("counted");
      }
      assertThat(counted.requests).hasSize(100);
      assertThat(counted.connections.get()).isLessThanOrEqualTo(3);
    }
  }

  @Test
  void maxConnectionsPerBackendBoundsTheUpstreamPool() throws Exception {
    try (TestBackend slow =
            TestBackend.with(
                "slow",
                (request, response, callback) -> {
                  Thread.ofVirtual()
                      .start(
                          () -> {
                            try {
                              Thread.sleep(20); // keep requests overlapping
                            } catch (InterruptedException ignored) {
                              // stop
                            }
                            response.write(
                                true,
                                ByteBuffer.wrap("s".getBytes(StandardCharsets.US_ASCII)),
                                callback);
                          });
                  return true;
                });
        HttpProxy p =
            HttpProxy.builder()
                .listen("127.0.0.1", 0)
                .maxConnectionsPerBackend(2)
                .defaultRoute(Cluster.of("s", slow.backend()))
                .start()) {
      List<CompletableFuture<HttpResponse<String>>> all = new ArrayList<>();
      for (int i = 0; i < 20; i++) {
        all.add(
            http.sendAsync(
                HttpRequest.newBuilder(p.uri().resolve("/c" + i)).build(),
                HttpResponse.BodyHandlers.ofString()));
      }
      for (var f : all) {
        assertThat(f.get(30, TimeUnit.SECONDS).body()).isEqualTo("s");
      }
      assertThat(slow.requests).hasSize(20);
      assertThat(slow.connections.get()).isBetween(1, 2);
    }
  }

  @Test
  void download64MiBFixedLengthByteExact() throws Exception {
    download(false);
  }

  @Test
  void download64MiBChunkedByteExact() throws Exception {
    download(true);
  }

  private void download(boolean chunked) throws Exception {
    long size = 64L * MIB;
    String expected = sha256(new Bytes(7, size));
    HttpResponse<InputStream> r =
        http.send(
            HttpRequest.newBuilder(
                    proxy.uri().resolve("/download?size=" + size + (chunked ? "&chunked=1" : "")))
                .build(),
            HttpResponse.BodyHandlers.ofInputStream());
    assertThat(r.statusCode()).isEqualTo(200);
    if (chunked) {
      assertThat(r.headers().firstValue("Content-Length")).isEmpty();
    } else {
      assertThat(r.headers().firstValueAsLong("Content-Length")).hasValue(size);
    }
    try (InputStream in = r.body()) {
      assertThat(sha256(in)).isEqualTo(expected);
    }
    assertThat(Idle.await(proxy).stats().total().bytesOut()).isEqualTo(size);
  }

  @Test
  void upload64MiBFixedLengthByteExact() throws Exception {
    upload(false);
  }

  @Test
  void upload64MiBChunkedByteExact() throws Exception {
    upload(true);
  }

  @Test
  void responseTrailersAreForwarded() throws Exception {
    Raw.Reply r =
        Raw.exchange(
            proxy.port(),
            "GET /trailers HTTP/1.1\r\nHost: h\r\nTE: trailers\r\nConnection: close\r\n\r\n");
    assertThat(r.status()).isEqualTo(200);
    assertThat(r.header("Transfer-Encoding")).isEqualTo("chunked");
    assertThat(r.body()).contains("part1-").contains("part2").contains("X-Checksum: abc123");
  }

  @Test
  void requestTrailersAreForwarded() throws Exception {
    Raw.Reply r =
        Raw.exchange(
            proxy.port(),
            "POST /request-trailers HTTP/1.1\r\nHost: h\r\nConnection: close\r\n"
                + "Transfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\nX-Sum: 42\r\n\r\n");
    assertThat(r.status()).isEqualTo(200);
    assertThat(r.body()).isEqualTo("hello world");
    assertThat(r.header("X-Got-Trailer")).isEqualTo("42");
  }

  /**
   * Small chunks read ahead before dialing (past the read-ahead bound) go upstream in order,
   * byte-exact.
   */
  @Test
  void manySmallChunksInOneWriteAreForwardedByteExact() throws Exception {
    StringBuilder wire = new StringBuilder();
    StringBuilder expected = new StringBuilder();
    for (int i = 0; expected.length() < 3 * ProxyRequestContent.READ_AHEAD; i++) {
      String data = String.valueOf((char) ('a' + i % 26)).repeat(1 + i % 37);
      wire.append(Integer.toHexString(data.length())).append("\r\n").append(data).append("\r\n");
      expected.append(data);
    }
    Raw.Reply r =
        Raw.exchange(
            proxy.port(),
            "POST /request-trailers HTTP/1.1\r\nHost: h\r\nConnection: close\r\n"
                + "Transfer-Encoding: chunked\r\n\r\n"
                + wire
                + "0\r\nX-Sum: 7\r\n\r\n");
    assertThat(r.status()).isEqualTo(200);
    assertThat(r.body()).isEqualTo(expected.toString());
    assertThat(r.header("X-Got-Trailer")).isEqualTo("7");
    assertThat(Idle.await(proxy).stats().total().bytesIn()).isEqualTo(expected.length());
  }

  @Test
  void noThreadIsHeldPerRequestAndInFlightIsCountedPerRouteAndBackend() throws Exception {
    int n = 40;
    List<Runnable> held = new CopyOnWriteArrayList<>();
    try (TestBackend parked =
            TestBackend.with(
                "parked",
                (request, response, callback) -> {
                  held.add(
                      () ->
                          response.write(
                              true,
                              ByteBuffer.wrap("done".getBytes(StandardCharsets.US_ASCII)),
                              callback));
                  return true;
                });
        HttpProxy p =
            HttpProxy.builder()
                .listen("127.0.0.1", 0)
                .maxThreads(8)
                .route(r -> r.name("parked").to(Cluster.of("parked", parked.backend())))
                .start()) {
      List<CompletableFuture<HttpResponse<String>>> all = new ArrayList<>();
      for (int i = 0; i < n; i++) {
        all.add(
            http.sendAsync(
                HttpRequest.newBuilder(p.uri().resolve("/p" + i)).build(),
                HttpResponse.BodyHandlers.ofString()));
      }
      // with 8 threads in the proxy's pool, 40 requests can only be in flight at once if none holds
      // one
      Await.until(n + " requests at the backend at once", () -> parked.requests.size() == n);
      HttpProxyStats during = p.stats();
      assertThat(during.routes().get("parked").inFlight()).isEqualTo(n);
      assertThat(during.backends().get("parked").inFlight()).isEqualTo(n);
      held.forEach(Runnable::run);
      for (CompletableFuture<HttpResponse<String>> f : all) {
        assertThat(f.get(30, TimeUnit.SECONDS).body()).isEqualTo("done");
      }
      HttpProxyStats after = Idle.await(p).stats();
      assertThat(after.routes().get("parked").inFlight()).isZero();
      assertThat(after.backends().get("parked").inFlight()).isZero();
      assertThat(after.backends().get("parked").status2xx()).isEqualTo(n);
    }
  }
}
