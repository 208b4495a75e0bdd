package dev.meshlet.l7;

import static org.assertj.core.api.Assertions.assertThat;

import dev.meshlet.core.Cluster;
import dev.meshlet.testkit.Await;
import dev.meshlet.testkit.NoLeakedThreads;
import java.io.IOException;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.eclipse.jetty.client.ContentResponse;
import org.eclipse.jetty.client.HttpClient;
import org.eclipse.jetty.http2.client.HTTP2Client;
import org.eclipse.jetty.http2.client.transport.HttpClientTransportOverHTTP2;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * HTTP/2 attacks, written frame by frame on a raw socket: each gets a GOAWAY, is counted once in
 * the stats, and the proxy goes on serving a new client.
 */
@ExtendWith(NoLeakedThreads.class)
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class Http2FloodTest {
  private TestBackend backend;
  private HttpProxy proxy;
  private HttpClient h2;

  @BeforeEach
  void start() throws Exception {
    backend = TestBackend.named("b");
    proxy =
        HttpProxy.builder()
            .listen("127.0.0.1", 0)
            .h2c(true)
            .http2(Http2Limits.builder().maxControlFramesPerSecond(100).build())
            .defaultRoute(Cluster.of("c", backend.backend()))
            .start();
    h2 = new HttpClient(new HttpClientTransportOverHTTP2(new HTTP2Client()));
    h2.start();
  }

  @AfterEach
  void stop() throws Exception {
    h2.stop();
    proxy.close();
    backend.close();
  }

  private long errors(HttpProxyStats.ErrorKind kind) {
    return proxy.stats().total().errors(kind);
  }

  /**
   * Buffers {@code n} frames of what {@code write} makes, sent together by the read that follows;
   * stops when the proxy has closed.
   */
  private interface Frames {
    void write(H2Frames f, int i) throws IOException;
  }

  private static void flood(H2Frames f, int n, Frames write) {
    try {
      for (int i = 0; i < n; i++) {
        write.write(f, i);
      }
    } catch (IOException closed) {
      // the proxy closed the connection mid-flood: what the test expects
    }
  }

  private void assertStillServes() throws Exception {
    ContentResponse r = h2.newRequest("127.0.0.1", proxy.port()).path("/after").send();
    assertThat(r.getStatus()).isEqualTo(200);
    assertThat(r.getContentAsString()).isEqualTo("b");
  }

  @Test
  void rapidResetIsClosedWithEnhanceYourCalm() throws Exception {
    try (H2Frames f = new H2Frames(proxy.port())) {
      flood(
          f,
          150, // 150 resets against 100 a second, 5.4 KB: one read for the proxy
          (frames, i) -> {
            int stream = 2 * i + 1;
            frames.frame(
                H2Frames.HEADERS,
                H2Frames.END_HEADERS | H2Frames.END_STREAM,
                stream,
                H2Frames.getRequest());
            frames.frame(H2Frames.RST_STREAM, 0, stream, H2Frames.cancel());
          });
      assertThat(f.awaitGoAway()).isEqualTo(H2Frames.ENHANCE_YOUR_CALM);
    }
    Await.until("the closure counted", () -> errors(HttpProxyStats.ErrorKind.H2_FLOOD) == 1);
    assertStillServes();
    // the requests it did begin were answered or cancelled: none is left in flight
    Await.until("nothing in flight", () -> proxy.stats().total().inFlight() == 0);
  }

  @Test
  void streamsPastTheConcurrentLimitAreRefusedAndCounted() throws Exception {
    CountDownLatch release = new CountDownLatch(1);
    try (TestBackend held =
            TestBackend.with(
                "held",
                (request, response, callback) -> {
                  release.await();
                  response.write(true, null, callback);
                  return true;
                });
        Cluster c = Cluster.of("c", held.backend());
        HttpProxy p =
            HttpProxy.builder()
                .listen("127.0.0.1", 0)
                .h2c(true)
                .http2(Http2Limits.builder().maxConcurrentStreams(2).build())
                .defaultRoute(c)
                .start();
        H2Frames f = new H2Frames(p.port())) {
      for (int stream = 1; stream <= 5; stream += 2) {
        f.frame(
            H2Frames.HEADERS,
            H2Frames.END_HEADERS | H2Frames.END_STREAM,
            stream,
            H2Frames.getRequest());
      }
      assertThat(f.awaitReset()).containsExactly(5, H2Frames.REFUSED_STREAM);
      Await.until("two streams at the backend", () -> held.requests.size() == 2);
      assertThat(p.stats().total().errors(HttpProxyStats.ErrorKind.H2_STREAM_REFUSED)).isEqualTo(1);
      release.countDown();
      Await.until("both answered", () -> p.stats().total().status2xx() == 2);
    } finally {
      release.countDown();
    }
  }

  @Test
  void pingFloodIsClosedWithEnhanceYourCalm() throws Exception {
    try (H2Frames f = new H2Frames(proxy.port())) {
      flood(f, 300, (frames, i) -> frames.frame(H2Frames.PING, 0, 0, new byte[8]));
      assertThat(f.awaitGoAway()).isEqualTo(H2Frames.ENHANCE_YOUR_CALM);
    }
    Await.until("the closure counted", () -> errors(HttpProxyStats.ErrorKind.H2_FLOOD) == 1);
    assertStillServes();
  }

  @Test
  void settingsFloodIsClosedWithEnhanceYourCalm() throws Exception {
    try (H2Frames f = new H2Frames(proxy.port())) {
      flood(f, 300, (frames, i) -> frames.frame(H2Frames.SETTINGS, 0, 0, new byte[0]));
      assertThat(f.awaitGoAway()).isEqualTo(H2Frames.ENHANCE_YOUR_CALM);
    }
    Await.until("the closure counted", () -> errors(HttpProxyStats.ErrorKind.H2_FLOOD) == 1);
    assertStillServes();
  }

  @Test
  void emptyContinuationFloodIsClosedWithEnhanceYourCalm() throws Exception {
    try (H2Frames f = new H2Frames(proxy.port())) {
      f.frame(H2Frames.HEADERS, H2Frames.END_STREAM, 1, H2Frames.getRequest());
      flood(f, 300, (frames, i) -> frames.frame(H2Frames.CONTINUATION, 0, 1, new byte[0]));
      assertThat(f.awaitGoAway()).isEqualTo(H2Frames.ENHANCE_YOUR_CALM);
    }
    Await.until("the closure counted", () -> errors(HttpProxyStats.ErrorKind.H2_FLOOD) == 1);
    assertStillServes();
  }

  @Test
  void continuationFloodPastTheHeaderListSizeIsClosed() throws Exception {
    int error;
    try (H2Frames f = new H2Frames(proxy.port())) {
      f.frame(H2Frames.HEADERS, H2Frames.END_STREAM, 1, H2Frames.getRequest());
      // 1 KiB fields, never END_HEADERS: the block passes the 8 KiB header list size at the ninth
      flood(
          f,
          12,
          (frames, i) ->
              frames.frame(H2Frames.CONTINUATION, 0, 1, H2Frames.literal("x-f" + i, 1000)));
      error = f.awaitGoAway();
    }
    assertThat(error).as("a GOAWAY with an error").isGreaterThan(0);
    Await.until(
        "the closure counted",
        () ->
            errors(HttpProxyStats.ErrorKind.H2_PROTOCOL) + errors(HttpProxyStats.ErrorKind.H2_FLOOD)
                == 1);
    assertThat(backend.requests).isEmpty();
    assertStillServes();
  }
}
