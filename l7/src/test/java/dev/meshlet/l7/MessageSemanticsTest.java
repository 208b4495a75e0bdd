package dev.meshlet.l7;

import static org.assertj.core.api.Assertions.assertThat;

import dev.meshlet.core.Cluster;
import dev.meshlet.testkit.NoLeakedThreads;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.zip.GZIPOutputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * HTTP/1.1 message rules through the proxy: targets, bodiless responses, 100-continue, HTTP/1.0.
 */
@ExtendWith(NoLeakedThreads.class)
@Timeout(value = 90, unit = TimeUnit.SECONDS)
class MessageSemanticsTest extends ForwardingTestSupport {
  @Test
  void requestTargetIsForwardedExactlyAsReceived() throws Exception {
    String target = "/raw/%7Euser/a%20b/%C3%A9?q=a+b&r=%2F&empty=&x=%41";
    Raw.Reply r =
        Raw.exchange(
            proxy.port(), "GET " + target + " HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
    assertThat(r.status()).isEqualTo(200);
    assertThat(backend.last().target()).isEqualTo(target);
  }

  @Test
  void headAnd204And304CarryNoBody() throws Exception {
    Raw.Reply head =
        Raw.exchange(
            proxy.port(), "HEAD /status?code=200 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
    assertThat(head.status()).isEqualTo(200);
    assertThat(head.header("Content-Length")).isEqualTo("5");
    assertThat(head.body()).isEmpty();
    for (int code : new int[] {204, 304}) {
      Raw.Reply r =
          Raw.exchange(
              proxy.port(),
              "GET /status?code=" + code + " HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
      assertThat(r.status()).isEqualTo(code);
      assertThat(r.body()).isEmpty();
      assertThat(r.header("Transfer-Encoding")).isNull();
      assertThat(r.header("ETag")).isEqualTo("\"v1\"");
    }
    // and the connection stays usable: two requests on one socket
    Raw.Reply two =
        Raw.exchange(
            proxy.port(),
            "GET /status?code=204 HTTP/1.1\r\nHost: h\r\n\r\nGET /after HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
    assertThat(two.raw()).startsWith("HTTP/1.1 204").contains("ok /after");
  }

  @Test
  void expect100ContinueForwardsBodyAfterBackendAgrees() throws Exception {
    HttpResponse<String> r =
        http.send(
            HttpRequest.newBuilder(proxy.uri().resolve("/upload"))
                .expectContinue(true)
                .POST(HttpRequest.BodyPublishers.ofString("hello"))
                .build(),
            HttpResponse.BodyHandlers.ofString());
    assertThat(r.statusCode()).isEqualTo(200);
    assertThat(r.body())
        .isEqualTo(sha256(new ByteArrayInputStream("hello".getBytes(StandardCharsets.US_ASCII))));
    assertThat(backend.last().header("Expect")).isEqualToIgnoringCase("100-continue");
  }

  @Test
  void expect100ContinueRefusedByBackendReachesClient() throws Exception {
    HttpResponse<String> r =
        http.send(
            HttpRequest.newBuilder(proxy.uri().resolve("/reject"))
                .expectContinue(true)
                .POST(HttpRequest.BodyPublishers.ofString("x".repeat(100_000)))
                .build(),
            HttpResponse.BodyHandlers.ofString());
    assertThat(r.statusCode()).isEqualTo(417);
    assertThat(r.body()).isEqualTo("nope");
  }

  @Test
  void http10ClientIsServed() throws Exception {
    Raw.Reply r = Raw.exchange(proxy.port(), "GET /old HTTP/1.0\r\n\r\n");
    assertThat(r.statusLine())
        .matches("HTTP/1\\.[01] 200 .*"); // RFC 9110 §2.5: the server's own version
    assertThat(r.body()).isEqualTo("ok /old");
    assertThat(backend.last().header("Via")).isEqualTo("1.0 meshlet");
    assertThat(backend.last().version()).isEqualTo("HTTP/1.1");
  }

  @Test
  void expectContinueThatIsNotForwardedIsNotWaitedFor() throws Exception {
    String body = "hello";
    String digest = sha256(new ByteArrayInputStream(body.getBytes(StandardCharsets.US_ASCII)));
    // a backend never asked for a 100 never sends one: the body must flow without it
    try (HttpProxy p =
        HttpProxy.builder()
            .listen("127.0.0.1", 0)
            .responseTimeout(Duration.ofSeconds(5))
            .defaultRoute(Cluster.of("data", backend.backend()))
            .start()) {
      Raw.Reply named =
          Raw.exchange(
              p.port(),
              "POST /upload HTTP/1.1\r\nHost: h\r\nConnection: close, Expect\r\n"
                  + "Expect: 100-continue\r\nContent-Length: 5\r\n\r\n"
                  + body);
      assertThat(named.raw())
          .as("Expect named in Connection")
          .contains("HTTP/1.1 200 ")
          .endsWith(digest);
      assertThat(backend.last().header("Expect")).isNull();
      assertThat(Idle.await(p).stats().total().errors()).isEmpty();
    }
    try (HttpProxy p =
        HttpProxy.builder()
            .listen("127.0.0.1", 0)
            .responseTimeout(Duration.ofSeconds(5))
            .removeRequestHeader("Expect")
            .defaultRoute(Cluster.of("data", backend.backend()))
            .start()) {
      HttpResponse<String> r =
          http.send(
              HttpRequest.newBuilder(p.uri().resolve("/upload"))
                  .expectContinue(true)
                  .POST(HttpRequest.BodyPublishers.ofString(body))
                  .build(),
              HttpResponse.BodyHandlers.ofString());
      assertThat(r.statusCode()).as("Expect removed by a rewrite").isEqualTo(200);
      assertThat(r.body()).isEqualTo(digest);
      assertThat(backend.last().header("Expect")).isNull();
      assertThat(Idle.await(p).stats().total().errors()).isEmpty();
    }
  }

  @Test
  void upstreamClientAddsNoHeadersFollowsNoRedirectKeepsNoCookieAndDecodesNothing()
      throws Exception {
    ByteArrayOutputStream gz = new ByteArrayOutputStream();
    try (GZIPOutputStream out = new GZIPOutputStream(gz)) {
      out.write("compressed".getBytes(StandardCharsets.US_ASCII));
    }
    byte[] gzipped = gz.toByteArray();
    try (TestBackend b =
            TestBackend.with(
                "plain",
                (request, response, callback) -> {
                  switch (request.getHttpURI().getPath()) {
                    case "/redirect" -> {
                      response.setStatus(302);
                      response.getHeaders().put("Location", "/elsewhere");
                      response.getHeaders().put("Set-Cookie", "sid=s1; Path=/");
                      response.write(
                          true,
                          ByteBuffer.wrap("moved".getBytes(StandardCharsets.US_ASCII)),
                          callback);
                    }
                    case "/gzip" -> {
                      response.getHeaders().put("Content-Encoding", "gzip");
                      response.write(true, ByteBuffer.wrap(gzipped), callback);
                    }
                    default ->
                        response.write(
                            true,
                            ByteBuffer.wrap("ok".getBytes(StandardCharsets.US_ASCII)),
                            callback);
                  }
                  return true;
                });
        HttpProxy p =
            HttpProxy.builder()
                .listen("127.0.0.1", 0)
                .defaultRoute(Cluster.of("plain", b.backend()))
                .start()) {
      Raw.Reply redirect =
          Raw.exchange(p.port(), "GET /redirect HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
      assertThat(redirect.status()).isEqualTo(302);
      assertThat(redirect.header("Location")).isEqualTo("/elsewhere");
      assertThat(redirect.header("Set-Cookie")).isEqualTo("sid=s1; Path=/");
      assertThat(redirect.body()).isEqualTo("moved");
      Raw.Reply zipped =
          Raw.exchange(
              p.port(),
              "GET /gzip HTTP/1.1\r\nHost: h\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n");
      assertThat(zipped.header("Content-Encoding")).isEqualTo("gzip");
      assertThat(zipped.body().getBytes(StandardCharsets.ISO_8859_1)).isEqualTo(gzipped);
      Raw.Reply next =
          Raw.exchange(
              p.port(),
              "POST /next HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi");
      assertThat(next.status()).isEqualTo(200);
      assertThat(b.requests)
          .extracting(TestBackend.Seen::target)
          .as("the redirect was not followed")
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
}
