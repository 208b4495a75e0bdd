package dev.meshlet.l7;

import static org.assertj.core.api.Assertions.assertThat;

import dev.meshlet.core.Cluster;
import dev.meshlet.testkit.Await;
import dev.meshlet.testkit.NoLeakedThreads;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.zip.GZIPOutputStream;
import org.eclipse.jetty.http.HttpFields;
import org.eclipse.jetty.io.Content;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.Callback;
import org.eclipse.jetty.util.Fields;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

@ExtendWith(NoLeakedThreads.class)
@Timeout(value = 90, unit = TimeUnit.SECONDS)
class ForwardingTest {
  static final int MIB = 1024 * 1024;
  static TestBackend backend;
  static final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
  HttpProxy proxy;

  /** Deterministic bytes: the same seed gives the same stream on both ends. */
  static final class Bytes extends InputStream {
    private final SplittableRandom random;
    private long left;

    Bytes(long seed, long size) {
      random = new SplittableRandom(seed);
      left = size;
    }

    @Override
    public int read() {
      byte[] one = new byte[1];
      return read(one, 0, 1) < 0 ? -1 : one[0] & 0xFF;
    }

    @Override
    public int read(byte[] b, int off, int len) {
      if (left == 0) {
        return -1;
      }
      int n = (int) Math.min(len, left);
      for (int i = 0; i < n; i++) {
        b[off + i] = (byte) random.nextInt(256);
      }
      left -= n;
      return n;
    }
  }

  static String sha256(InputStream in) throws Exception {
    MessageDigest md = MessageDigest.getInstance("SHA-256");
    byte[] buf = new byte[64 * 1024];
    for (int n; (n = in.read(buf)) >= 0; ) {
      md.update(buf, 0, n);
    }
    return HexFormat.of().formatHex(md.digest());
  }

  static boolean handle(Request request, Response response, Callback callback) throws Exception {
    String path = request.getHttpURI().getPath();
    Fields q = Request.extractQueryParameters(request);
    switch (path) {
      case "/download" -> {
        long size = Long.parseLong(q.getValue("size"));
        if (q.getValue("chunked") == null) {
          response.getHeaders().put("Content-Length", size);
        }
        try (OutputStream out = Content.Sink.asOutputStream(response); InputStream in = new Bytes(7, size)) {
          in.transferTo(out);
        }
        callback.succeeded();
      }
      case "/upload" -> {
        String digest;
        try (InputStream in = Content.Source.asInputStream(request)) {
          digest = sha256(in);
        }
        response.getHeaders().put("X-Length", String.valueOf(request.getLength()));
        response.write(true, ByteBuffer.wrap(digest.getBytes(StandardCharsets.US_ASCII)), callback);
      }
      case "/status" -> {
        int status = Integer.parseInt(q.getValue("code"));
        response.setStatus(status);
        response.getHeaders().put("ETag", "\"v1\"");
        if (status == 200) {
          response.getHeaders().put("Content-Length", 5);
          response.write(true, ByteBuffer.wrap("hello".getBytes(StandardCharsets.US_ASCII)), callback);
        } else {
          callback.succeeded();
        }
      }
      case "/trailers" -> {
        response.setTrailersSupplier(() -> HttpFields.build().put("X-Checksum", "abc123"));
        response.write(false, ByteBuffer.wrap("part1-".getBytes(StandardCharsets.US_ASCII)), Callback.NOOP);
        response.write(true, ByteBuffer.wrap("part2".getBytes(StandardCharsets.US_ASCII)), callback);
      }
      case "/request-trailers" -> {
        byte[] body;
        try (InputStream in = Content.Source.asInputStream(request)) {
          body = in.readAllBytes();
        }
        HttpFields trailers = request.getTrailers();
        response.getHeaders().put("X-Got-Trailer", trailers == null ? "none" : String.valueOf(trailers.get("X-Sum")));
        response.write(true, ByteBuffer.wrap(body), callback);
      }
      case "/reject" -> {
        response.setStatus(417);
        response.write(true, ByteBuffer.wrap("nope".getBytes(StandardCharsets.US_ASCII)), callback);
      }
      default -> {
        response.getHeaders().put("Content-Type", "text/plain");
        response.write(true, ByteBuffer.wrap(("ok " + request.getHttpURI().getPathQuery()).getBytes(StandardCharsets.UTF_8)), callback);
      }
    }
    return true;
  }

  @BeforeAll
  static void startBackend() throws Exception {
    backend = TestBackend.with("data", ForwardingTest::handle);
  }

  @AfterAll
  static void stopBackend() throws Exception {
    backend.close();
    http.close();
  }

  @BeforeEach
  void startProxy() throws Exception {
    backend.requests.clear();
    proxy = HttpProxy.builder().listen("127.0.0.1", 0).defaultRoute(Cluster.of("data", backend.backend())).start();
  }

  @AfterEach
  void stopProxy() {
    proxy.close();
  }

  @Test
  void keepAliveReusesUpstreamConnections() throws Exception {
    try (TestBackend counted = TestBackend.named("counted");
        HttpProxy p = HttpProxy.builder().listen("127.0.0.1", 0).defaultRoute(Cluster.of("c", counted.backend())).start()) {
      for (int i = 0; i < 100; i++) {
        HttpResponse<String> r = http.send(HttpRequest.newBuilder(p.uri().resolve("/k" + i)).build(),
            HttpResponse.BodyHandlers.ofString());
        assertThat(r.body()).isEqualTo("counted");
      }
      assertThat(counted.requests).hasSize(100);
      assertThat(counted.connections.get()).isLessThanOrEqualTo(3);
    }
  }

  @Test
  void maxConnectionsPerBackendBoundsTheUpstreamPool() throws Exception {
    try (TestBackend slow = TestBackend.with("slow", (request, response, callback) -> {
          Thread.ofVirtual().start(() -> {
            try {
              Thread.sleep(20); // keep requests overlapping
            } catch (InterruptedException ignored) {
              // stop
            }
            response.write(true, ByteBuffer.wrap("s".getBytes(StandardCharsets.US_ASCII)), callback);
          });
          return true;
        });
        HttpProxy p = HttpProxy.builder().listen("127.0.0.1", 0).maxConnectionsPerBackend(2)
            .defaultRoute(Cluster.of("s", slow.backend())).start()) {
      List<CompletableFuture<HttpResponse<String>>> all = new ArrayList<>();
      for (int i = 0; i < 20; i++) {
        all.add(http.sendAsync(HttpRequest.newBuilder(p.uri().resolve("/c" + i)).build(), HttpResponse.BodyHandlers.ofString()));
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
    HttpResponse<InputStream> r = http.send(
        HttpRequest.newBuilder(proxy.uri().resolve("/download?size=" + size + (chunked ? "&chunked=1" : ""))).build(),
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

  private void upload(boolean chunked) throws Exception {
    long size = 64L * MIB;
    String expected = sha256(new Bytes(11, size));
    HttpRequest.BodyPublisher stream = HttpRequest.BodyPublishers.ofInputStream(() -> new Bytes(11, size));
    HttpRequest.BodyPublisher body = chunked ? stream : HttpRequest.BodyPublishers.fromPublisher(stream, size);
    HttpResponse<String> r = http.send(HttpRequest.newBuilder(proxy.uri().resolve("/upload")).POST(body).build(),
        HttpResponse.BodyHandlers.ofString());
    assertThat(r.statusCode()).isEqualTo(200);
    assertThat(r.body()).isEqualTo(expected);
    assertThat(r.headers().firstValue("X-Length")).hasValue(chunked ? "-1" : String.valueOf(size));
    assertThat(backend.last().header("Transfer-Encoding")).isEqualTo(chunked ? "chunked" : null);
    assertThat(Idle.await(proxy).stats().total().bytesIn()).isEqualTo(size);
  }

  @Test
  void requestTargetIsForwardedExactlyAsReceived() throws Exception {
    String target = "/raw/%7Euser/a%20b/%C3%A9?q=a+b&r=%2F&empty=&x=%41";
    Raw.Reply r = Raw.exchange(proxy.port(), "GET " + target + " HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
    assertThat(r.status()).isEqualTo(200);
    assertThat(backend.last().target()).isEqualTo(target);
  }

  @Test
  void headAnd204And304CarryNoBody() throws Exception {
    Raw.Reply head = Raw.exchange(proxy.port(), "HEAD /status?code=200 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
    assertThat(head.status()).isEqualTo(200);
    assertThat(head.header("Content-Length")).isEqualTo("5");
    assertThat(head.body()).isEmpty();
    for (int code : new int[] {204, 304}) {
      Raw.Reply r = Raw.exchange(proxy.port(), "GET /status?code=" + code + " HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
      assertThat(r.status()).isEqualTo(code);
      assertThat(r.body()).isEmpty();
      assertThat(r.header("Transfer-Encoding")).isNull();
      assertThat(r.header("ETag")).isEqualTo("\"v1\"");
    }
    // and the connection stays usable: two requests on one socket
    Raw.Reply two = Raw.exchange(proxy.port(),
        "GET /status?code=204 HTTP/1.1\r\nHost: h\r\n\r\nGET /after HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
    assertThat(two.raw()).startsWith("HTTP/1.1 204").contains("ok /after");
  }

  @Test
  void expect100ContinueForwardsBodyAfterBackendAgrees() throws Exception {
    HttpResponse<String> r = http.send(HttpRequest.newBuilder(proxy.uri().resolve("/upload")).expectContinue(true)
        .POST(HttpRequest.BodyPublishers.ofString("hello")).build(), HttpResponse.BodyHandlers.ofString());
    assertThat(r.statusCode()).isEqualTo(200);
    assertThat(r.body()).isEqualTo(sha256(new ByteArrayInputStream("hello".getBytes(StandardCharsets.US_ASCII))));
    assertThat(backend.last().header("Expect")).isEqualToIgnoringCase("100-continue");
  }

  @Test
  void expect100ContinueRefusedByBackendReachesClient() throws Exception {
    HttpResponse<String> r = http.send(HttpRequest.newBuilder(proxy.uri().resolve("/reject")).expectContinue(true)
        .POST(HttpRequest.BodyPublishers.ofString("x".repeat(100_000))).build(), HttpResponse.BodyHandlers.ofString());
    assertThat(r.statusCode()).isEqualTo(417);
    assertThat(r.body()).isEqualTo("nope");
  }

  @Test
  void http10ClientIsServed() throws Exception {
    Raw.Reply r = Raw.exchange(proxy.port(), "GET /old HTTP/1.0\r\n\r\n");
    assertThat(r.statusLine()).matches("HTTP/1\\.[01] 200 .*"); // RFC 9110 §2.5: the server's own version
    assertThat(r.body()).isEqualTo("ok /old");
    assertThat(backend.last().header("Via")).isEqualTo("1.0 meshlet");
    assertThat(backend.last().version()).isEqualTo("HTTP/1.1");
  }

  @Test
  void responseTrailersAreForwarded() throws Exception {
    Raw.Reply r = Raw.exchange(proxy.port(), "GET /trailers HTTP/1.1\r\nHost: h\r\nTE: trailers\r\nConnection: close\r\n\r\n");
    assertThat(r.status()).isEqualTo(200);
    assertThat(r.header("Transfer-Encoding")).isEqualTo("chunked");
    assertThat(r.body()).contains("part1-").contains("part2").contains("X-Checksum: abc123");
  }

  @Test
  void requestTrailersAreForwarded() throws Exception {
    Raw.Reply r = Raw.exchange(proxy.port(), "POST /request-trailers HTTP/1.1\r\nHost: h\r\nConnection: close\r\n"
        + "Transfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\nX-Sum: 42\r\n\r\n");
    assertThat(r.status()).isEqualTo(200);
    assertThat(r.body()).isEqualTo("hello world");
    assertThat(r.header("X-Got-Trailer")).isEqualTo("42");
  }

  /** Small chunks read ahead before dialing (past the read-ahead bound) go upstream in order, byte-exact. */
  @Test
  void manySmallChunksInOneWriteAreForwardedByteExact() throws Exception {
    StringBuilder wire = new StringBuilder();
    StringBuilder expected = new StringBuilder();
    for (int i = 0; expected.length() < 3 * ProxyRequestContent.READ_AHEAD; i++) {
      String data = String.valueOf((char) ('a' + i % 26)).repeat(1 + i % 37);
      wire.append(Integer.toHexString(data.length())).append("\r\n").append(data).append("\r\n");
      expected.append(data);
    }
    Raw.Reply r = Raw.exchange(proxy.port(), "POST /request-trailers HTTP/1.1\r\nHost: h\r\nConnection: close\r\n"
        + "Transfer-Encoding: chunked\r\n\r\n" + wire + "0\r\nX-Sum: 7\r\n\r\n");
    assertThat(r.status()).isEqualTo(200);
    assertThat(r.body()).isEqualTo(expected.toString());
    assertThat(r.header("X-Got-Trailer")).isEqualTo("7");
    assertThat(Idle.await(proxy).stats().total().bytesIn()).isEqualTo(expected.length());
  }

  @Test
  void expectContinueThatIsNotForwardedIsNotWaitedFor() throws Exception {
    String body = "hello";
    String digest = sha256(new ByteArrayInputStream(body.getBytes(StandardCharsets.US_ASCII)));
    // a backend never asked for a 100 never sends one: the body must flow without it
    try (HttpProxy p = HttpProxy.builder().listen("127.0.0.1", 0).responseTimeout(Duration.ofSeconds(5))
        .defaultRoute(Cluster.of("data", backend.backend())).start()) {
      Raw.Reply named = Raw.exchange(p.port(), "POST /upload HTTP/1.1\r\nHost: h\r\nConnection: close, Expect\r\n"
          + "Expect: 100-continue\r\nContent-Length: 5\r\n\r\n" + body);
      assertThat(named.raw()).as("Expect named in Connection").contains("HTTP/1.1 200 ").endsWith(digest);
      assertThat(backend.last().header("Expect")).isNull();
      assertThat(Idle.await(p).stats().total().errors()).isEmpty();
    }
    try (HttpProxy p = HttpProxy.builder().listen("127.0.0.1", 0).responseTimeout(Duration.ofSeconds(5))
        .removeRequestHeader("Expect").defaultRoute(Cluster.of("data", backend.backend())).start()) {
      HttpResponse<String> r = http.send(HttpRequest.newBuilder(p.uri().resolve("/upload")).expectContinue(true)
          .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
      assertThat(r.statusCode()).as("Expect removed by a rewrite").isEqualTo(200);
      assertThat(r.body()).isEqualTo(digest);
      assertThat(backend.last().header("Expect")).isNull();
      assertThat(Idle.await(p).stats().total().errors()).isEmpty();
    }
  }

  @Test
  void upstreamClientAddsNoHeadersFollowsNoRedirectKeepsNoCookieAndDecodesNothing() throws Exception {
    ByteArrayOutputStream gz = new ByteArrayOutputStream();
    try (GZIPOutputStream out = new GZIPOutputStream(gz)) {
      out.write("compressed".getBytes(StandardCharsets.US_ASCII));
    }
    byte[] gzipped = gz.toByteArray();
    try (TestBackend b = TestBackend.with("plain", (request, response, callback) -> {
          switch (request.getHttpURI().getPath()) {
            case "/redirect" -> {
              response.setStatus(302);
              response.getHeaders().put("Location", "/elsewhere");
              response.getHeaders().put("Set-Cookie", "sid=s1; Path=/");
              response.write(true, ByteBuffer.wrap("moved".getBytes(StandardCharsets.US_ASCII)), callback);
            }
            case "/gzip" -> {
              response.getHeaders().put("Content-Encoding", "gzip");
              response.write(true, ByteBuffer.wrap(gzipped), callback);
            }
            default -> response.write(true, ByteBuffer.wrap("ok".getBytes(StandardCharsets.US_ASCII)), callback);
          }
          return true;
        });
        HttpProxy p = HttpProxy.builder().listen("127.0.0.1", 0).defaultRoute(Cluster.of("plain", b.backend())).start()) {
      Raw.Reply redirect = Raw.exchange(p.port(), "GET /redirect HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
      assertThat(redirect.status()).isEqualTo(302);
      assertThat(redirect.header("Location")).isEqualTo("/elsewhere");
      assertThat(redirect.header("Set-Cookie")).isEqualTo("sid=s1; Path=/");
      assertThat(redirect.body()).isEqualTo("moved");
      Raw.Reply zipped = Raw.exchange(p.port(),
          "GET /gzip HTTP/1.1\r\nHost: h\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n");
      assertThat(zipped.header("Content-Encoding")).isEqualTo("gzip");
      assertThat(zipped.body().getBytes(StandardCharsets.ISO_8859_1)).isEqualTo(gzipped);
      Raw.Reply next = Raw.exchange(p.port(),
          "POST /next HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi");
      assertThat(next.status()).isEqualTo(200);
      assertThat(b.requests).extracting(TestBackend.Seen::target).as("the redirect was not followed")
          .containsExactly("/redirect", "/gzip", "/next");
      for (TestBackend.Seen seen : b.requests) {
        assertThat(seen.header("User-Agent")).as(seen.target()).isNull();
        assertThat(seen.header("Cookie")).as(seen.target()).isNull();
      }
      assertThat(b.requests.get(0).header("Accept-Encoding")).isNull();
      assertThat(b.requests.get(1).header("Accept-Encoding")).isEqualTo("gzip");
      assertThat(b.requests.get(2).header("Content-Type")).as("no default content type").isNull();
    }
  }

  @Test
  void noThreadIsHeldPerRequestAndInFlightIsCountedPerRouteAndBackend() throws Exception {
    int n = 40;
    List<Runnable> held = new CopyOnWriteArrayList<>();
    try (TestBackend parked = TestBackend.with("parked", (request, response, callback) -> {
          held.add(() -> response.write(true, ByteBuffer.wrap("done".getBytes(StandardCharsets.US_ASCII)), callback));
          return true;
        });
        HttpProxy p = HttpProxy.builder().listen("127.0.0.1", 0).maxThreads(8)
            .route(r -> r.name("parked").to(Cluster.of("parked", parked.backend()))).start()) {
      List<CompletableFuture<HttpResponse<String>>> all = new ArrayList<>();
      for (int i = 0; i < n; i++) {
        all.add(http.sendAsync(HttpRequest.newBuilder(p.uri().resolve("/p" + i)).build(),
            HttpResponse.BodyHandlers.ofString()));
      }
      // with 8 threads in the proxy's pool, 40 requests can only be in flight at once if none holds one
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

  static String readAll(InputStream in) throws IOException {
    return new String(in.readAllBytes(), StandardCharsets.UTF_8);
  }
}
