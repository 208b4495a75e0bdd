package dev.meshlet.l7;

import static org.assertj.core.api.Assertions.assertThat;

import dev.meshlet.core.Cluster;
import dev.meshlet.testkit.Await;
import dev.meshlet.testkit.NoLeakedThreads;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.eclipse.jetty.io.Content;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

@ExtendWith(NoLeakedThreads.class)
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class SafetyTest {
  static TestBackend backend;
  static TestBackend foreign;
  HttpProxy proxy;

  @BeforeAll
  static void start() throws Exception {
    backend =
        TestBackend.with(
            "configured",
            (request, response, callback) -> {
              // read the whole body, then answer
              try (InputStream in = Content.Source.asInputStream(request)) {
                in.transferTo(OutputStream.nullOutputStream());
              }
              response.write(
                  true,
                  ByteBuffer.wrap("configured".getBytes(StandardCharsets.US_ASCII)),
                  callback);
              return true;
            });
    foreign = TestBackend.named("foreign");
  }

  @AfterAll
  static void stop() throws Exception {
    backend.close();
    foreign.close();
  }

  @BeforeEach
  void startProxy() throws Exception {
    backend.requests.clear();
    proxy =
        HttpProxy.builder()
            .listen("127.0.0.1", 0)
            .requestHeadTimeout(Duration.ofMillis(500))
            .maxRequestHeaderSize(2048)
            .maxUriLength(200)
            .defaultRoute(Cluster.of("configured", backend.backend()))
            .start();
  }

  @AfterEach
  void stopProxy() {
    proxy.close();
  }

  /** Each shape is followed by a smuggled request that must not reach the backend either. */
  @ParameterizedTest
  @ValueSource(
      strings = {
        // Content-Length together with Transfer-Encoding
        "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 40\r\n\r\n0\r\n\r\n",
        // conflicting or malformed Content-Length
        "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde",
        "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4, 5\r\n\r\nabcde",
        "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +5\r\n\r\nabcde",
        "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0x5\r\n\r\nabcde",
        "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: \r\n\r\nabcde",
        "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\nabcde",
        // Transfer-Encoding other than exactly chunked
        "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        // bad chunk sizes
        "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\nabc\r\n0\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0x3\r\nabc\r\n0\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffffff\r\nabc\r\n0\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\n0\n\n",
        // NUL, CR, LF in header values; bare LF; obs-fold
        "GET / HTTP/1.1\r\nHost: h\r\nX-A: a\u0000b\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: h\r\nX-A: a\rb\r\n\r\n",
        "GET / HTTP/1.1\nHost: h\nX-A: b\n\n",
        "GET / HTTP/1.1\r\nHost: h\r\nX-A: b\r\n c\r\n\r\n",
        // invalid header names, whitespace before the colon
        "GET / HTTP/1.1\r\nHost: h\r\nX A: b\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: h\r\nX(A): b\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: h\r\nX-A : b\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: h\r\n: b\r\n\r\n",
        // two Host headers
        "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
      })
  void ambiguousFramingIsRejectedWith400AndNothingIsForwarded(String shape) throws Exception {
    String smuggled = "GET /smuggled HTTP/1.1\r\nHost: h\r\n\r\n";
    Raw.Reply r = Raw.exchange(proxy.port(), shape + smuggled);
    assertThat(r.status()).as(r.raw()).isEqualTo(400);
    assertThat(r.raw())
        .as("one answer, then the connection is closed")
        .doesNotContain("smuggled")
        .containsOnlyOnce("HTTP/1.1");
    assertThat(backend.requests).isEmpty();
    assertThat(Idle.await(proxy).stats().total().errors(HttpProxyStats.ErrorKind.BAD_REQUEST))
        .isEqualTo(1);
  }

  /** A path a prefix route could read differently from a backend is refused, not forwarded. */
  @ParameterizedTest
  @ValueSource(
      strings = {
        "/public/..%2Fadmin",
        "/public/%2e%2e/admin",
        "/a%2Fb",
        "//admin",
        "/public/;/../admin"
      })
  void ambiguousPathsAreRejectedWith400AndNothingIsForwarded(String target) throws Exception {
    Raw.Reply r =
        Raw.exchange(
            proxy.port(), "GET " + target + " HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
    assertThat(r.status()).as(r.raw()).isEqualTo(400);
    assertThat(backend.requests).isEmpty();
  }

  /**
   * Jetty hands a chunk's data over before it checks what follows it: whatever of the body arrived
   * with the head is parsed before the backend is dialed, so none of these opens a backend
   * connection.
   */
  @ParameterizedTest
  @ValueSource(
      strings = {
        "3\r\nabcdef\r\n0\r\n\r\n", // more data than the chunk size says
        "3\r\nabcXX0\r\n\r\n", // no CRLF after the chunk data
        "3\r\nabc\r\n0\r\nX-T: 1\n\r\n", // a trailer line ending in a bare LF
        "3\r\nabc\r\n0\r\n\n", // the end of the trailers a bare LF
        "3\r\nabc\r\nzz\r\nabc\r\n0\r\n\r\n", // a bad size after a good chunk
      })
  void malformedChunkAfterGoodChunkDataIsRejectedBeforeTheBackendIsDialed(String body)
      throws Exception {
    int connectionsBefore = backend.connections.get();
    Raw.Reply r =
        Raw.exchange(
            proxy.port(),
            "POST /bad HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                + body
                + "GET /smuggled HTTP/1.1\r\nHost: h\r\n\r\n");
    assertThat(r.status()).as(r.raw()).isEqualTo(400);
    assertThat(r.raw())
        .as("one answer, then the connection is closed")
        .doesNotContain("smuggled")
        .containsOnlyOnce("HTTP/1.1");
    assertThat(Idle.await(proxy).stats().total().errors(HttpProxyStats.ErrorKind.BAD_REQUEST))
        .isEqualTo(1);
    // a request after it: once its connection was accepted, one dialed for the bad request would
    // have been too
    Raw.Reply next =
        Raw.exchange(proxy.port(), "GET /next HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
    assertThat(next.status()).isEqualTo(200);
    assertThat(backend.requests).extracting(TestBackend.Seen::target).containsExactly("/next");
    assertThat(backend.connections.get())
        .as("backend connections accepted")
        .isEqualTo(connectionsBefore + 1);
  }

  @Test
  void badChunkAfterForwardingBeganAbortsBothConnections() throws Exception {
    int connectionsBefore = backend.connections.get();
    try (Socket s = new Socket("127.0.0.1", proxy.port())) {
      s.setSoTimeout(20_000);
      OutputStream out = s.getOutputStream();
      out.write(
          "POST /stream HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"
              .getBytes(StandardCharsets.US_ASCII));
      out.flush();
      Await.until("request forwarded", () -> backend.requests.size() == 1);
      out.write(
          "zz\r\nworld\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: h\r\n\r\n"
              .getBytes(StandardCharsets.US_ASCII));
      out.flush();
      Raw.Reply r = Raw.parse(Raw.readAll(s.getInputStream()));
      assertThat(r.status()).isEqualTo(400);
      assertThat(r.raw()).doesNotContain("configured");
    }
    Idle.await(proxy);
    // the next request must not reuse the aborted upstream connection
    Raw.Reply next =
        Raw.exchange(proxy.port(), "GET /next HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
    assertThat(next.status()).isEqualTo(200);
    assertThat(backend.requests)
        .extracting(TestBackend.Seen::target)
        .containsExactly("/stream", "/next");
    assertThat(backend.connections.get()).isEqualTo(connectionsBefore + 2);
  }

  @Test
  void absoluteFormTargetNeverDialsItsAuthority() throws Exception {
    String authority = "127.0.0.1:" + foreign.port();
    Raw.Reply r =
        Raw.exchange(
            proxy.port(),
            "GET http://"
                + authority
                + "/secret?x=1 HTTP/1.1\r\nHost: "
                + authority
                + "\r\nConnection: close\r\n\r\n");
    assertThat(r.status()).as(r.raw()).isIn(200, 400);
    if (r.status() == 200) {
      assertThat(r.body()).isEqualTo("configured");
      assertThat(backend.last().target()).isEqualTo("/secret?x=1");
    }
    // authority differing from Host
    Raw.Reply mismatched =
        Raw.exchange(
            proxy.port(),
            "GET http://"
                + authority
                + "/secret HTTP/1.1\r\nHost: other.test\r\nConnection: close\r\n\r\n");
    assertThat(mismatched.status()).isIn(200, 400);
    assertThat(foreign.requests).isEmpty();
    assertThat(foreign.connections.get()).isZero();
  }

  @Test
  void connectIsRefusedAndNeverDialed() throws Exception {
    String authority = "127.0.0.1:" + foreign.port();
    Raw.Reply r =
        Raw.exchange(
            proxy.port(), "CONNECT " + authority + " HTTP/1.1\r\nHost: " + authority + "\r\n\r\n");
    assertThat(r.status()).isIn(400, 405);
    assertThat(foreign.connections.get()).isZero();
    assertThat(backend.requests).isEmpty();
  }

  @Test
  void slowRequestHeadGets408AndIsClosed() throws Exception {
    try (Socket s = new Socket("127.0.0.1", proxy.port())) {
      s.setSoTimeout(20_000);
      OutputStream out = s.getOutputStream();
      out.write("GET / HTTP/1.1\r\nHost: h\r\n".getBytes(StandardCharsets.US_ASCII));
      out.flush();
      Thread trickle =
          Thread.ofVirtual()
              .start(
                  () -> {
                    try {
                      for (int i = 0; i < 200; i++) {
                        out.write("X-Slow: 1\r\n".getBytes(StandardCharsets.US_ASCII));
                        out.flush();
                        Thread.sleep(100); // the attacker's pace
                      }
                    } catch (IOException | InterruptedException e) {
                      // closed by the proxy: expected
                    }
                  });
      Raw.Reply r = Raw.parse(Raw.readAll(s.getInputStream()));
      trickle.interrupt();
      assertThat(r.status()).isEqualTo(408);
    }
    assertThat(backend.requests).isEmpty();
    assertThat(proxy.stats().total().errors(HttpProxyStats.ErrorKind.REQUEST_TIMEOUT)).isEqualTo(1);
  }

  @Test
  void idleKeepAliveConnectionIsNotCutByTheHeadDeadline() throws Exception {
    try (Socket s = new Socket("127.0.0.1", proxy.port())) {
      s.setSoTimeout(20_000);
      s.getOutputStream()
          .write("GET /first HTTP/1.1\r\nHost: h\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
      assertThat(Raw.readResponses(s.getInputStream(), 1)).startsWith("HTTP/1.1 200");
      Thread.sleep(1200); // idle for more than twice the head deadline, on purpose
      s.getOutputStream()
          .write(
              "GET /late HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"
                  .getBytes(StandardCharsets.US_ASCII));
      Raw.Reply r = Raw.parse(Raw.readAll(s.getInputStream()));
      assertThat(r.status()).isEqualTo(200);
    }
  }

  /**
   * Like nginx's client_header_timeout: a new connection must send its first request in time, even
   * if it sends nothing.
   */
  @Test
  void newConnectionThatSendsNothingIsClosedAtTheHeadDeadline() throws Exception {
    try (Socket s = new Socket("127.0.0.1", proxy.port())) {
      s.setSoTimeout(20_000);
      long start = System.nanoTime();
      assertThat(s.getInputStream().read()).as("closed without an answer").isEqualTo(-1);
      assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofSeconds(10));
    }
    assertThat(backend.requests).isEmpty();
  }

  @Test
  void oversizedHeadIs431AndOversizedUriIs414() throws Exception {
    Raw.Reply big =
        Raw.exchange(
            proxy.port(),
            "GET / HTTP/1.1\r\nHost: h\r\nX-Big: "
                + "a".repeat(3000)
                + "\r\nConnection: close\r\n\r\n");
    assertThat(big.status()).isEqualTo(431);
    Raw.Reply longUri =
        Raw.exchange(
            proxy.port(),
            "GET /" + "u".repeat(300) + " HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
    assertThat(longUri.status()).isEqualTo(414);
    assertThat(backend.requests).isEmpty();
    HttpProxyStats.Counts total = Idle.await(proxy).stats().total();
    assertThat(total.errors(HttpProxyStats.ErrorKind.HEADERS_TOO_LARGE)).isEqualTo(1);
    assertThat(total.errors(HttpProxyStats.ErrorKind.URI_TOO_LONG)).isEqualTo(1);
  }
}
