package dev.meshlet.l7;

import static org.assertj.core.api.Assertions.assertThat;

import dev.meshlet.core.Backend;
import dev.meshlet.core.Cluster;
import dev.meshlet.testkit.Await;
import dev.meshlet.testkit.NoLeakedThreads;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.eclipse.jetty.io.Content;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * A client leaving while its backend is silent aborts the proxy request, long before any timeout.
 */
@ExtendWith(NoLeakedThreads.class)
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class ClientAbortTest {

  /**
   * A backend that reads one request head, never answers, and notes when the proxy closes the
   * connection.
   */
  static final class SilentBackend implements AutoCloseable {
    final ServerSocket server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
    final CountDownLatch headRead = new CountDownLatch(1);
    final AtomicLong closedAtNanos = new AtomicLong();
    private final Thread thread;

    SilentBackend() throws IOException {
      thread = Thread.ofPlatform().daemon().name("silent-backend").start(this::serve);
    }

    private void serve() {
      try (Socket s = server.accept()) {
        InputStream in = s.getInputStream();
        int matched = 0;
        while (matched < 4) { // up to the end of the head
          int b = in.read();
          if (b < 0) {
            return;
          }
          matched = (b == "\r\n\r\n".charAt(matched)) ? matched + 1 : (b == '\r' ? 1 : 0);
        }
        headRead.countDown();
        while (in.read() >= 0) {
          // nothing else comes: wait for the proxy to close its end
        }
        closedAtNanos.set(System.nanoTime());
      } catch (IOException e) {
        closedAtNanos.compareAndSet(0, System.nanoTime()); // reset by the proxy: closed too
      }
    }

    Backend backend() {
      return Backend.of("127.0.0.1", server.getLocalPort());
    }

    @Override
    public void close() throws IOException {
      server.close();
    }
  }

  @ParameterizedTest
  @ValueSource(booleans = {false, true})
  void clientLeavingWhileTheBackendIsSilentAbortsTheUpstreamExchange(boolean reset)
      throws Exception {
    try (SilentBackend backend = new SilentBackend();
        HttpProxy proxy =
            HttpProxy.builder()
                .listen("127.0.0.1", 0)
                .responseTimeout(Duration.ofSeconds(30))
                .defaultRoute(Cluster.of("silent", backend.backend()))
                .start()) {
      Socket client = new Socket("127.0.0.1", proxy.port());
      client
          .getOutputStream()
          .write("GET /slow HTTP/1.1\r\nHost: h\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
      assertThat(backend.headRead.await(10, TimeUnit.SECONDS))
          .as("the request reached the backend")
          .isTrue();
      if (reset) {
        client.setSoLinger(true, 0);
      }
      long closedAt = System.nanoTime();
      client.close();
      Await.until("the upstream connection closed", () -> backend.closedAtNanos.get() != 0);
      assertThat(Duration.ofNanos(backend.closedAtNanos.get() - closedAt))
          .as("noticed long before the 30 s response timeout")
          .isLessThan(Duration.ofSeconds(5));
      Idle.await(proxy);
      HttpProxyStats.Counts total = proxy.stats().total();
      assertThat(total.errors(HttpProxyStats.ErrorKind.CLIENT_ABORTED)).isEqualTo(1);
      assertThat(total.errors(HttpProxyStats.ErrorKind.GATEWAY_TIMEOUT)).isZero();
      assertThat(total.status5xx()).isZero();
    }
  }

  @Test
  void clientLeavingMidBodyCountsAsClientAbortedNotBadRequest() throws Exception {
    try (TestBackend backend =
            TestBackend.with(
                "reader",
                (request, response, callback) -> {
                  Content.Source.consumeAll(request, callback);
                  return true;
                });
        HttpProxy proxy =
            HttpProxy.builder()
                .listen("127.0.0.1", 0)
                .defaultRoute(Cluster.of("reader", backend.backend()))
                .start()) {
      try (Socket client = new Socket("127.0.0.1", proxy.port())) {
        client
            .getOutputStream()
            .write(
                "POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 100000\r\n\r\nabc"
                    .getBytes(StandardCharsets.US_ASCII));
        Await.until("the request reached the backend", () -> !backend.requests.isEmpty());
      }
      Await.until(
          "the exchange ended",
          () -> proxy.stats().total().requests() == 1 && proxy.stats().total().inFlight() == 0);
      HttpProxyStats.Counts total = proxy.stats().total();
      assertThat(total.errors(HttpProxyStats.ErrorKind.CLIENT_ABORTED))
          .as(total.toString())
          .isEqualTo(1);
      assertThat(total.errors(HttpProxyStats.ErrorKind.BAD_REQUEST)).isZero();
      assertThat(total.errors(HttpProxyStats.ErrorKind.BAD_GATEWAY)).isZero();
    }
  }

  /** The watch must never take a pipelined or keep-alive request's bytes from Jetty. */
  @Test
  void slowResponsesStillServeKeepAliveAndPipelinedRequests() throws Exception {
    try (TestBackend backend =
            TestBackend.with(
                "slow",
                (request, response, callback) -> {
                  // silent for longer than the watch delay, then answers: no thread waits
                  CompletableFuture.delayedExecutor(400, TimeUnit.MILLISECONDS)
                      .execute(
                          () ->
                              response.write(
                                  true,
                                  ByteBuffer.wrap(
                                      request
                                          .getHttpURI()
                                          .getPath()
                                          .getBytes(StandardCharsets.US_ASCII)),
                                  callback));
                  return true;
                });
        HttpProxy proxy =
            HttpProxy.builder()
                .listen("127.0.0.1", 0)
                .defaultRoute(Cluster.of("slow", backend.backend()))
                .start()) {
      try (Socket s = new Socket("127.0.0.1", proxy.port())) {
        s.setSoTimeout(20_000);
        // two pipelined at once, then (after reading them) a keep-alive one that closes
        s.getOutputStream()
            .write(
                ("GET /one HTTP/1.1\r\nHost: h\r\n\r\nGET /two HTTP/1.1\r\nHost: h\r\n\r\n")
                    .getBytes(StandardCharsets.US_ASCII));
        String first = Raw.readResponses(s.getInputStream(), 2);
        assertThat(first).contains("/one").contains("/two");
        s.getOutputStream()
            .write(
                "GET /three HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"
                    .getBytes(StandardCharsets.US_ASCII));
        String rest = Raw.readAll(s.getInputStream());
        assertThat(rest).startsWith("HTTP/1.1 200").endsWith("/three");
      }
      Idle.await(proxy);
      assertThat(proxy.stats().total().status2xx()).isEqualTo(3);
      assertThat(proxy.stats().total().errors()).isEmpty();
    }
  }
}
