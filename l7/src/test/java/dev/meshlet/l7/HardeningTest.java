package dev.meshlet.l7;

import static org.assertj.core.api.Assertions.assertThat;

import dev.meshlet.core.Cluster;
import dev.meshlet.testkit.Await;
import dev.meshlet.testkit.NoLeakedThreads;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Clients must not harm backends, spoof headers, or hang the proxy. */
@ExtendWith(NoLeakedThreads.class)
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class HardeningTest {
  CannedBackend backend;
  Cluster cluster;
  HttpProxy proxy;

  @BeforeEach
  void start() throws Exception {
    backend = new CannedBackend();
    cluster = Cluster.of("canned", backend.backend());
    proxy =
        HttpProxy.builder()
            .listen("127.0.0.1", 0)
            .responseTimeout(Duration.ofSeconds(20))
            .defaultRoute(cluster)
            .start();
  }

  @AfterEach
  void stop() throws Exception {
    proxy.close();
    backend.close();
  }

  private Raw.Reply send(String request) throws Exception {
    return Raw.exchange(proxy.port(), request);
  }

  private long backendFailures() {
    return cluster.endpoints().get(0).stats().failures();
  }

  // --- finding 1: a client's fault is never the backend's

  @ParameterizedTest
  @ValueSource(strings = {"/q?a=%ZZ", "/q?a=100%", "/q?a=%4", "/q?b=1&a=%G1"})
  void badPercentEncodingIs400AndNeverReachesOrHarmsTheBackend(String target) throws Exception {
    Raw.Reply r = send("GET " + target + " HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
    assertThat(r.status()).as(r.raw()).isEqualTo(400);
    HttpProxyStats.Counts total = Idle.await(proxy).stats().total();
    assertThat(total.errors(HttpProxyStats.ErrorKind.BAD_REQUEST)).isEqualTo(1);
    assertThat(total.status5xx()).isZero();
    assertThat(backend.requests).isEmpty();
    assertThat(backendFailures()).isZero();
  }

  @Test
  void targetThatFitsTheHeaderLimitAlsoFitsUpstreamWithTheProxysHeaders() throws Exception {
    Raw.Reply r =
        send("GET /" + "u".repeat(8100) + " HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
    assertThat(r.status()).as(r.statusLine()).isEqualTo(200);
    assertThat(backend.last())
        .contains("/" + "u".repeat(8100))
        .contains("X-Forwarded-For: 127.0.0.1");
    assertThat(backendFailures()).isZero();
  }

  // --- finding 2

  @Test
  void absoluteFormHttpsTargetOverPlainHttpIsForwardedAsHttp() throws Exception {
    Raw.Reply r = send("GET https://h/x HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
    assertThat(r.status()).isEqualTo(200);
    assertThat(backend.last()).contains("X-Forwarded-Proto: http\r\n").doesNotContain("https");
  }

  // --- finding 3

  @Test
  void aRouteMatcherFailingOnABadQueryIs400AndLeavesNothingInFlight() throws Exception {
    proxy.close();
    proxy =
        HttpProxy.builder()
            .listen("127.0.0.1", 0)
            .drainTimeout(Duration.ofSeconds(20))
            .route(r -> r.name("v2").queryParam("v", "2").to(cluster))
            .defaultRoute(cluster)
            .start();
    // %ZZ is caught before routing; %E0%A4 is valid percent-encoding but not UTF-8, so the matcher
    // throws
    for (String target :
        new String[] {"/q?v=%ZZ", "/q?v=2&x=100%", "/q?v=%E0%A4", "/q?x=%FF&v=2"}) {
      Raw.Reply r = send("GET " + target + " HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
      assertThat(r.status()).as(target).isEqualTo(400);
    }
    HttpProxyStats.Counts total = Idle.await(proxy).stats().total();
    assertThat(total.requests()).isEqualTo(4);
    assertThat(total.errors(HttpProxyStats.ErrorKind.BAD_REQUEST)).isEqualTo(4);
    assertThat(total.inFlight()).isZero();
    long start = System.nanoTime();
    proxy.close();
    assertThat(Duration.ofNanos(System.nanoTime() - start))
        .as("close() has nothing to drain")
        .isLessThan(Duration.ofSeconds(5));
    assertThat(backend.requests).isEmpty();
  }

  // --- finding 4

  @Test
  void earlyHintsAreDroppedAndTheFinalResponseForwarded() throws Exception {
    backend.canned.put(
        "/early",
        "HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n"
            + "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    try (Socket s =
        new Socket("127.0.0.1", proxy.port())) { // keep-alive: the client must not wait for more
      s.setSoTimeout(20_000);
      s.getOutputStream()
          .write("GET /early HTTP/1.1\r\nHost: h\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
      String reply = Raw.readResponses(s.getInputStream(), 1);
      assertThat(reply).startsWith("HTTP/1.1 200 OK").endsWith("ok").doesNotContain("103");
    }
  }

  @Test
  void switchingProtocolsToARequestThatAskedNoUpgradeIs502() throws Exception {
    backend.canned.put(
        "/sw",
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nRAW");
    Raw.Reply r = send("GET /sw HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
    assertThat(r.status()).isEqualTo(502);
    assertThat(r.raw()).doesNotContain("RAW");
  }

  // --- finding 5

  @Test
  void noContentAndNotModifiedLoseTheirContentLengthAndTheConnectionStaysInStep() throws Exception {
    backend.canned.put("/204", "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n");
    backend.canned.put(
        "/304", "HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\nContent-Length: 500\r\n\r\n");
    try (Socket s = new Socket("127.0.0.1", proxy.port())) {
      s.setSoTimeout(20_000);
      s.getOutputStream()
          .write(
              ("GET /204 HTTP/1.1\r\nHost: h\r\n\r\nGET /304 HTTP/1.1\r\nHost: h\r\n\r\n"
                      + "GET /after HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
                  .getBytes(StandardCharsets.US_ASCII));
      String all = Raw.readAll(s.getInputStream());
      assertThat(all).startsWith("HTTP/1.1 204 No Content\r\n");
      String first = all.substring(0, all.indexOf("\r\n\r\n"));
      assertThat(first).doesNotContainIgnoringCase("content-length");
      assertThat(all)
          .contains("HTTP/1.1 304 Not Modified\r\n")
          .doesNotContain("Content-Length: 500")
          .doesNotContain(" 500 ")
          .endsWith("ok");
    }
    assertThat(Idle.await(proxy).stats().total().status2xx()).isEqualTo(2);
  }

  @ParameterizedTest
  @ValueSource(strings = {"gzip, chunked", "chunked, chunked", "identity"})
  void backendTransferEncodingOtherThanChunkedIs502(String te) throws Exception {
    backend.canned.put(
        "/te", "HTTP/1.1 200 OK\r\nTransfer-Encoding: " + te + "\r\n\r\n3\r\nabc\r\n0\r\n\r\n");
    Raw.Reply r = send("GET /te HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
    assertThat(r.status()).as(r.raw()).isEqualTo(502);
    assertThat(Idle.await(proxy).stats().total().errors(HttpProxyStats.ErrorKind.BAD_GATEWAY))
        .isEqualTo(1);
  }

  // --- finding 7

  @Test
  void requestTrailersCannotSmuggleFramingRoutingForwardingOrAuthFields() throws Exception {
    proxy.close();
    proxy =
        HttpProxy.builder()
            .listen("127.0.0.1", 0)
            .removeRequestHeader("X-Internal-*")
            .defaultRoute(cluster)
            .start();
    Raw.Reply r =
        send(
            "POST /t HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                + "3\r\nabc\r\n0\r\nContent-Length: 99\r\nHost: evil\r\nTransfer-Encoding: chunked\r\nConnection: x\r\n"
                + "X-Forwarded-For: 6.6.6.6\r\nVia: 1.0 evil\r\nX-Request-ID: mine\r\nAuthorization: Basic eA==\r\n"
                + "X-Internal-User: admin\r\nX-T: 1\r\n\r\n");
    assertThat(r.status()).isEqualTo(200);
    String seen = backend.last();
    String trailers = seen.substring(seen.indexOf("\r\n0\r\n") + 5);
    assertThat(trailers).isEqualTo("X-T: 1\r\n\r\n");
  }

  @Test
  void responseTrailersAreFilteredToo() throws Exception {
    backend.canned.put(
        "/trail",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-T\r\n\r\n"
            + "3\r\nabc\r\n0\r\nX-T: 1\r\nContent-Length: 7\r\nSet-Cookie: z=1\r\nConnection: close\r\n\r\n");
    Raw.Reply r =
        send("GET /trail HTTP/1.1\r\nHost: h\r\nTE: trailers\r\nConnection: close\r\n\r\n");
    assertThat(r.status()).isEqualTo(200);
    String trailers = r.body().substring(r.body().indexOf("\r\n0\r\n") + 5);
    assertThat(trailers).isEqualTo("X-T: 1\r\n\r\n");
  }

  // --- finding 8 and 11

  @Test
  void forwardingHeadersFromUntrustedClientsAreDropped() throws Exception {
    Raw.Reply r =
        send(
            "GET / HTTP/1.1\r\nHost: h\r\nForwarded: for=1.2.3.4;proto=https\r\nX-Real-IP: 7.7.7.7\r\n"
                + "X-Forwarded-Prefix: /admin\r\nX_Forwarded_For: 6.6.6.6\r\nX_Other: 1\r\nX-Kept: k\r\nConnection: close\r\n\r\n");
    assertThat(r.status()).isEqualTo(200);
    String seen = backend.last().toLowerCase(Locale.ROOT);
    assertThat(seen)
        .doesNotContain("forwarded:")
        .doesNotContain("x-real-ip")
        .doesNotContain("x-forwarded-prefix")
        .doesNotContain("x_")
        .doesNotContain("6.6.6.6")
        .doesNotContain("7.7.7.7")
        .contains("x-kept: k");
  }

  @Test
  void forwardingHeadersFromTrustedProxiesPass() throws Exception {
    proxy.close();
    proxy =
        HttpProxy.builder()
            .listen("127.0.0.1", 0)
            .trustedProxies("127.0.0.1")
            .defaultRoute(cluster)
            .start();
    send(
        "GET / HTTP/1.1\r\nHost: h\r\nForwarded: for=1.2.3.4\r\nX-Real-IP: 7.7.7.7\r\nConnection: close\r\n\r\n");
    assertThat(backend.last()).contains("Forwarded: for=1.2.3.4").contains("X-Real-IP: 7.7.7.7");
  }

  @Test
  void underscoreHeadersCanBeRejected() throws Exception {
    proxy.close();
    proxy =
        HttpProxy.builder()
            .listen("127.0.0.1", 0)
            .rejectUnderscoreHeaders(true)
            .defaultRoute(cluster)
            .start();
    Raw.Reply r =
        send("GET / HTTP/1.1\r\nHost: h\r\nX_Forwarded_For: 6.6.6.6\r\nConnection: close\r\n\r\n");
    assertThat(r.status()).isEqualTo(400);
    assertThat(backend.requests).isEmpty();
  }

  @ParameterizedTest
  @ValueSource(strings = {"get", "Post", "pUT"})
  void lowerCaseMethodsAreRefusedRatherThanUpperCasedUpstream(String method) throws Exception {
    Raw.Reply r =
        send(method + " / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    assertThat(r.status()).isEqualTo(400);
    assertThat(backend.requests).isEmpty();
  }

  @Test
  void expectContinueFromAnHttp10ClientIsNotForwarded() throws Exception {
    Raw.Reply r =
        send("POST /e HTTP/1.0\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc");
    assertThat(r.status()).isEqualTo(200);
    assertThat(r.raw()).doesNotContain("100 Continue");
    assertThat(backend.last()).doesNotContainIgnoringCase("expect").endsWith("\r\n\r\nabc");
  }

  // --- finding 9

  @Test
  void maxConnectionsStopsAcceptingAndCountsIt() throws Exception {
    proxy.close();
    proxy =
        HttpProxy.builder()
            .listen("127.0.0.1", 0)
            .maxConnections(2)
            .defaultRoute(cluster)
            .requestHeadTimeout(
                Duration.ZERO) // b sends its head last: no 408 for it, however slow the machine
            .start();
    try (Socket a = new Socket("127.0.0.1", proxy.port());
        Socket b = new Socket("127.0.0.1", proxy.port());
        Socket c = new Socket("127.0.0.1", proxy.port())) { // c waits in the backlog
      Await.until(
          "the limit reached",
          () -> proxy.stats().total().errors(HttpProxyStats.ErrorKind.CONNECTION_LIMIT) == 1);
      c.setSoTimeout(20_000);
      c.getOutputStream()
          .write(
              "GET /c HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"
                  .getBytes(StandardCharsets.US_ASCII));
      a.close(); // a slot frees: c is accepted and served
      assertThat(Raw.parse(Raw.readAll(c.getInputStream())).status()).isEqualTo(200);
      b.setSoTimeout(20_000); // and b, held open all along, is still served
      b.getOutputStream()
          .write(
              "GET /b HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"
                  .getBytes(StandardCharsets.US_ASCII));
      assertThat(Raw.parse(Raw.readAll(b.getInputStream())).status()).isEqualTo(200);
    }
  }

  @Test
  void upstreamConnectionsNeverCountAgainstMaxConnections() throws Exception {
    // The canned backend closes after each response, so every request opens a new upstream
    // connection on the selector the accepted ones use; only the client's connections may count.
    proxy.close();
    proxy =
        HttpProxy.builder().listen("127.0.0.1", 0).maxConnections(2).defaultRoute(cluster).start();
    for (int i = 0; i < 30; i++) {
      try (Socket s = new Socket("127.0.0.1", proxy.port())) {
        s.setSoTimeout(20_000);
        s.getOutputStream()
            .write(
                ("GET /n" + i + " HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
                    .getBytes(StandardCharsets.US_ASCII));
        assertThat(Raw.parse(Raw.readAll(s.getInputStream())).status())
            .as("request %d", i)
            .isEqualTo(200);
      }
    }
    // (a client connection the proxy has not finished closing may briefly hold a slot, so hits of
    // the
    // limit in the loop are expected.) Both slots are free for clients again: two held at once are
    // served.
    Idle.await(proxy);
    try (Socket a = new Socket("127.0.0.1", proxy.port());
        Socket b = new Socket("127.0.0.1", proxy.port())) {
      for (Socket s : List.of(a, b)) {
        s.setSoTimeout(20_000);
        s.getOutputStream()
            .write(
                "GET /both HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"
                    .getBytes(StandardCharsets.US_ASCII));
      }
      assertThat(Raw.parse(Raw.readAll(b.getInputStream())).status()).isEqualTo(200);
      assertThat(Raw.parse(Raw.readAll(a.getInputStream())).status()).isEqualTo(200);
    }
  }
}
