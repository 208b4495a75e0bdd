package dev.meshlet.l7;

import static org.assertj.core.api.Assertions.assertThat;

import dev.meshlet.core.Backend;
import dev.meshlet.core.Cluster;
import dev.meshlet.testkit.Await;
import dev.meshlet.testkit.NoLeakedThreads;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.eclipse.jetty.io.Content;
import org.eclipse.jetty.util.Promise;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

/** Which side a deadline blames, and that each deadline holds in both directions. */
@ExtendWith(NoLeakedThreads.class)
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class DeadlinesTest {

  /**
   * A backend that reads the whole body, then answers {@code status} after {@code delay} with what
   * it read.
   */
  static TestBackend reading(int status, Duration delay) throws Exception {
    return TestBackend.with(
        "reader",
        (request, response, callback) -> {
          Content.Source.asString(
              request,
              StandardCharsets.UTF_8,
              new Promise<>() {
                @Override
                public void succeeded(String body) {
                  request
                      .getComponents()
                      .getScheduler()
                      .schedule(
                          () -> {
                            response.setStatus(status);
                            response.write(
                                true,
                                ByteBuffer.wrap(("got " + body).getBytes(StandardCharsets.UTF_8)),
                                callback);
                          },
                          delay.toMillis(),
                          TimeUnit.MILLISECONDS);
                }

                @Override
                public void failed(Throwable x) {
                  callback.failed(x);
                }
              });
          return true;
        });
  }

  /**
   * Sends a POST of {@code length} bytes, one byte every {@code gap}, and returns the raw reply.
   */
  static String slowUpload(HttpProxy proxy, int length, Duration gap) throws Exception {
    try (Socket s = new Socket(InetAddress.getLoopbackAddress(), proxy.port())) {
      s.setSoTimeout(30_000);
      OutputStream out = s.getOutputStream();
      out.write(
          ("POST /up HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: "
                  + length
                  + "\r\n\r\n")
              .getBytes(StandardCharsets.US_ASCII));
      out.flush();
      InputStream in = s.getInputStream();
      for (int i = 0; i < length; i++) {
        long next = System.nanoTime() + gap.toNanos();
        while (System.nanoTime() < next) { // pace the upload; an answer may come meanwhile
          if (in.available() > 0) {
            return Raw.readAll(in);
          }
          Thread.sleep(5); // pacing the client's bytes, not waiting for a condition
        }
        try {
          out.write('a');
          out.flush();
        } catch (IOException closed) {
          return Raw.readAll(in);
        }
      }
      return Raw.readAll(in);
    }
  }

  @Test
  void slowUploadIs408ForTheClientNotA504AgainstTheBackend() throws Exception {
    try (TestBackend backend = reading(200, Duration.ZERO)) {
      Cluster c = Cluster.of("c", backend.backend());
      try (HttpProxy proxy =
          HttpProxy.builder()
              .listen("127.0.0.1", 0)
              .defaultRoute(c)
              .responseTimeout(Duration.ofMillis(300))
              .requestBodyTimeout(Duration.ofSeconds(1))
              .start()) {
        long start = System.nanoTime();
        String reply = slowUpload(proxy, 100, Duration.ofMillis(100));
        Duration took = Duration.ofNanos(System.nanoTime() - start);
        assertThat(reply).startsWith("HTTP/1.1 408 ");
        assertThat(took)
            .isGreaterThanOrEqualTo(Duration.ofMillis(900))
            .isLessThan(Duration.ofSeconds(8));
        HttpProxyStats s = Idle.await(proxy).stats();
        assertThat(s.total().errors(HttpProxyStats.ErrorKind.REQUEST_TIMEOUT)).isEqualTo(1);
        assertThat(s.total().errors(HttpProxyStats.ErrorKind.GATEWAY_TIMEOUT)).isZero();
        assertThat(c.endpoints().get(0).stats().failures()).as("not the backend's fault").isZero();
      }
    }
  }

  @Test
  void responseDeadlineRunsFromTheEndOfASlowBody() throws Exception {
    // the upload takes ~1 s, three times the response timeout: the backend is not late
    try (TestBackend backend = reading(200, Duration.ZERO)) {
      Cluster c = Cluster.of("c", backend.backend());
      try (HttpProxy proxy =
          HttpProxy.builder()
              .listen("127.0.0.1", 0)
              .defaultRoute(c)
              .responseTimeout(Duration.ofMillis(300))
              .requestBodyTimeout(Duration.ofSeconds(20))
              .start()) {
        String reply = slowUpload(proxy, 10, Duration.ofMillis(100));
        assertThat(reply).startsWith("HTTP/1.1 200 ").endsWith("got aaaaaaaaaa");
      }
    }
  }

  @Test
  void responseTimeoutExtendsPastTheUpstreamIdleTimeout() throws Exception {
    try (TestBackend backend = reading(200, Duration.ofMillis(2500))) {
      Cluster c = Cluster.of("c", backend.backend());
      try (HttpProxy proxy =
          HttpProxy.builder()
              .listen("127.0.0.1", 0)
              .defaultRoute(c)
              .upstreamIdleTimeout(Duration.ofSeconds(1))
              .responseTimeout(Duration.ofSeconds(6))
              .start()) {
        Raw.Reply r =
            Raw.exchange(
                proxy.port(), "GET /late HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        assertThat(r.statusLine()).isEqualTo("HTTP/1.1 200 OK");
        assertThat(r.body()).isEqualTo("got ");
      }
    }
  }

  @Test
  void responseTimeoutShortensTheUpstreamIdleTimeout() throws Exception {
    try (TestBackend backend = reading(200, Duration.ofSeconds(5))) {
      Cluster c = Cluster.of("c", backend.backend());
      try (HttpProxy proxy =
          HttpProxy.builder()
              .listen("127.0.0.1", 0)
              .defaultRoute(c)
              .upstreamIdleTimeout(Duration.ofSeconds(20))
              .responseTimeout(Duration.ofMillis(500))
              .start()) {
        long start = System.nanoTime();
        Raw.Reply r =
            Raw.exchange(
                proxy.port(), "GET /late HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        Duration took = Duration.ofNanos(System.nanoTime() - start);
        assertThat(r.statusLine()).isEqualTo("HTTP/1.1 504 Gateway Timeout");
        assertThat(took)
            .isGreaterThanOrEqualTo(Duration.ofMillis(450))
            .isLessThan(Duration.ofSeconds(4));
      }
    }
  }

  @Test
  void journalSaysTheClientLeftAndKeepsTheBackendsLaterStatusApart() throws Exception {
    try (TestBackend backend = reading(201, Duration.ofSeconds(1))) {
      Cluster c = Cluster.of("c", backend.backend());
      try (HttpProxy proxy = HttpProxy.builder().listen("127.0.0.1", 0).defaultRoute(c).start()) {
        try (Socket s = new Socket(InetAddress.getLoopbackAddress(), proxy.port())) {
          s.getOutputStream()
              .write("GET /gone HTTP/1.1\r\nHost: x\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
          Await.until("the request reached the backend", () -> !backend.requests.isEmpty());
          Thread.sleep(300); // the client gives up at 300 ms: the behaviour under test, not a wait
        }
        HttpEvent.Completed done = proxy.awaitRequests(1, Duration.ofSeconds(10)).get(0);
        assertThat(done.status()).as("the client got no status").isZero();
        assertThat(done.clientLeft()).isTrue();
        assertThat(done.clientLeftAfter())
            .isGreaterThanOrEqualTo(Duration.ofMillis(250))
            .isLessThan(Duration.ofSeconds(1));
        assertThat(done.backendStatus()).as("aborted before the backend answered").isZero();

        Raw.Reply r =
            Raw.exchange(
                proxy.port(), "GET /stay HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        assertThat(r.statusLine()).isEqualTo("HTTP/1.1 201 Created");
        HttpEvent.Completed stayed = proxy.awaitRequests(2, Duration.ofSeconds(10)).get(1);
        assertThat(stayed.status()).isEqualTo(201);
        assertThat(stayed.backendStatus()).isEqualTo(201);
        assertThat(stayed.clientLeft()).isFalse();
        assertThat(stayed.clientLeftAfter()).isNull();
      }
    }
  }

  @Test
  void oversizedBackendResponseHeaderIs502() throws Exception {
    try (CannedBackend backend = new CannedBackend()) {
      backend.canned.put(
          "/big",
          "HTTP/1.1 200 OK\r\nX-Big: " + "v".repeat(64 * 1024) + "\r\nContent-Length: 1\r\n\r\nx");
      Cluster c = Cluster.of("c", backend.backend());
      try (HttpProxy proxy = HttpProxy.builder().listen("127.0.0.1", 0).defaultRoute(c).start()) {
        Raw.Reply r =
            Raw.exchange(proxy.port(), "GET /big HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        assertThat(r.statusLine()).isEqualTo("HTTP/1.1 502 Bad Gateway");
        HttpProxyStats s = Idle.await(proxy).stats();
        assertThat(s.total().errors(HttpProxyStats.ErrorKind.BAD_GATEWAY)).isEqualTo(1);
      }
    }
  }

  @Test
  void unresolvableBackendIs502SayingWhyAndCounted() throws Exception {
    // RFC 6761: names under .invalid never resolve
    Cluster c = Cluster.of("c", Backend.of("nothing.invalid", 80));
    try (HttpProxy proxy = HttpProxy.builder().listen("127.0.0.1", 0).defaultRoute(c).start()) {
      for (int i = 0; i < 3; i++) {
        Raw.Reply r =
            Raw.exchange(proxy.port(), "GET /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        assertThat(r.statusLine()).isEqualTo("HTTP/1.1 502 Bad Gateway");
        assertThat(r.body()).contains("nothing.invalid").contains("does not resolve");
      }
      HttpProxyStats s = Idle.await(proxy).stats();
      assertThat(s.total().errors(HttpProxyStats.ErrorKind.UNRESOLVED_BACKEND)).isEqualTo(3);
      assertThat(s.total().status5xx()).isEqualTo(3);
    }
  }

  @Test
  void optionsAsteriskIsForwarded() throws Exception {
    try (TestBackend backend = TestBackend.named("b")) {
      Cluster c = Cluster.of("c", backend.backend());
      try (HttpProxy proxy = HttpProxy.builder().listen("127.0.0.1", 0).defaultRoute(c).start()) {
        Raw.Reply r =
            Raw.exchange(
                proxy.port(), "OPTIONS * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        assertThat(r.statusLine()).isEqualTo("HTTP/1.1 200 OK");
        assertThat(backend.last().method()).isEqualTo("OPTIONS");
        assertThat(backend.last().target()).isEqualTo("*");
      }
    }
  }
}
