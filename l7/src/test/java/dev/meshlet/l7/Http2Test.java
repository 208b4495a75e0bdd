package dev.meshlet.l7;

import static org.assertj.core.api.Assertions.assertThat;

import dev.meshlet.core.Cluster;
import dev.meshlet.testkit.NoLeakedThreads;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.eclipse.jetty.client.AsyncRequestContent;
import org.eclipse.jetty.client.ContentResponse;
import org.eclipse.jetty.client.HttpClient;
import org.eclipse.jetty.http.HttpFields;
import org.eclipse.jetty.http.HttpMethod;
import org.eclipse.jetty.http.HttpVersion;
import org.eclipse.jetty.http.Trailers;
import org.eclipse.jetty.http2.client.HTTP2Client;
import org.eclipse.jetty.http2.client.transport.HttpClientTransportOverHTTP2;
import org.eclipse.jetty.io.Content;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.Callback;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * HTTP/2 on both sides: h2c clients (prior knowledge and {@code Upgrade: h2c}) beside HTTP/1.1 on
 * one port, h2c backends chosen per cluster, every mix of the two, and trailers end to end.
 */
@ExtendWith(NoLeakedThreads.class)
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class Http2Test {
  private HttpClient h2;
  private HttpClient h1;

  @BeforeEach
  void clients() throws Exception {
    h2 = new HttpClient(new HttpClientTransportOverHTTP2(new HTTP2Client()));
    h2.start();
    h1 = new HttpClient();
    h1.start();
  }

  @AfterEach
  void stopClients() throws Exception {
    h2.stop();
    h1.stop();
  }

  /** Answers what it saw, or trailers (/trailers), or a Trailers-Only answer (/trailers-only). */
  static boolean handle(Request request, Response response, Callback callback) throws Exception {
    String path = request.getHttpURI().getPath();
    HttpFields in = request.getHeaders();
    if (path.equals("/trailers")) {
      StringBuilder body = new StringBuilder();
      HttpFields trailers = readAll(request, body);
      String sum = trailers == null ? "none" : trailers.get("x-sum");
      response.getHeaders().put("content-type", "application/grpc");
      response.getHeaders().put("x-got-te", String.valueOf(in.get("te")));
      response.setTrailersSupplier(
          () -> HttpFields.build().put("grpc-status", "0").put("x-sum", sum));
      response.write(
          true, ByteBuffer.wrap(("echo:" + body).getBytes(StandardCharsets.UTF_8)), callback);
      return true;
    }
    if (path.equals("/echo-stream")) {
      // answers at once, then echoes each piece as it comes: a full-duplex stream, as gRPC's
      response.getHeaders().put("content-type", "application/grpc");
      response.setTrailersSupplier(() -> HttpFields.build().put("grpc-status", "0"));
      response.write(false, null, Callback.NOOP);
      while (true) {
        Content.Chunk c = request.read();
        if (c == null) {
          CountDownLatch more = new CountDownLatch(1);
          request.demand(more::countDown);
          more.await();
          continue;
        }
        if (Content.Chunk.isFailure(c)) {
          callback.failed(c.getFailure());
          return true;
        }
        boolean last = c.isLast();
        if (c.hasRemaining() && !(c instanceof Trailers)) {
          ByteBuffer copy = ByteBuffer.allocate(c.remaining()).put(c.getByteBuffer()).flip();
          CountDownLatch written = new CountDownLatch(1);
          response.write(false, copy, Callback.from(written::countDown, x -> written.countDown()));
          written.await();
        }
        c.release();
        if (last) {
          response.write(true, null, callback);
          return true;
        }
      }
    }
    if (path.equals("/trailers-only")) {
      response.getHeaders().put("content-type", "application/grpc");
      response.getHeaders().put("grpc-status", "12");
      response.getHeaders().put("grpc-message", "unimplemented");
      response.write(true, null, callback);
      return true;
    }
    response.getHeaders().put("x-protocol", request.getConnectionMetaData().getProtocol());
    response.getHeaders().put("x-host", String.valueOf(in.get("host")));
    response.getHeaders().put("x-authority", String.valueOf(request.getHttpURI().getAuthority()));
    response.getHeaders().put("x-connection", String.valueOf(in.get("connection")));
    response.getHeaders().put("connection", "keep-alive"); // hop-by-hop: never to an h2 client
    response.write(true, ByteBuffer.wrap("ok".getBytes(StandardCharsets.UTF_8)), callback);
    return true;
  }

  /** Reads {@code request}'s body into {@code body}; returns its trailers, or null. */
  static HttpFields readAll(Request request, StringBuilder body) throws Exception {
    HttpFields trailers = null;
    while (true) {
      Content.Chunk c = request.read();
      if (c == null) {
        CountDownLatch more = new CountDownLatch(1);
        request.demand(more::countDown);
        more.await();
        continue;
      }
      if (Content.Chunk.isFailure(c)) {
        throw new IllegalStateException(c.getFailure());
      }
      if (c instanceof Trailers t) {
        trailers = t.getTrailers();
      }
      body.append(StandardCharsets.UTF_8.decode(c.getByteBuffer()));
      c.release();
      if (c.isLast()) {
        return trailers;
      }
    }
  }

  private static HttpProxy proxy(H2Backend backend, UpstreamProtocol protocol) throws Exception {
    Cluster c = Cluster.of("c", backend.backend());
    return HttpProxy.builder()
        .listen("127.0.0.1", 0)
        .h2c(true)
        .upstreamProtocol(c, protocol)
        .defaultRoute(c)
        .start();
  }

  @Test
  void h2cClientReachesH2cBackendWithItsAuthority() throws Exception {
    try (H2Backend b = H2Backend.h2c("b", Http2Test::handle);
        HttpProxy p = proxy(b, UpstreamProtocol.H2C)) {
      ContentResponse r =
          h2.newRequest("127.0.0.1", p.port()).path("/x").headers(h -> h.put("x-a", "1")).send();
      assertThat(r.getStatus()).isEqualTo(200);
      assertThat(r.getVersion()).isEqualTo(HttpVersion.HTTP_2);
      assertThat(r.getContentAsString()).isEqualTo("ok");
      assertThat(r.getHeaders().get("x-protocol")).isEqualTo("HTTP/2.0");
      // the client's authority reaches the backend as :authority, with no Host beside it
      assertThat(r.getHeaders().get("x-authority")).isEqualTo("127.0.0.1:" + p.port());
      assertThat(r.getHeaders().get("x-host")).isEqualTo("null");
      assertThat(r.getHeaders().get("connection")).isNull();
      assertThat(r.getHeaders().get("via")).isEqualTo("2.0 meshlet");
      assertThat(b.last().headers().get("x-a")).isEqualTo("1");
      assertThat(b.last().headers().get("via")).isEqualTo("2.0 meshlet");
    }
  }

  @Test
  void http11ClientReachesH2cBackend() throws Exception {
    try (H2Backend b = H2Backend.h2c("b", Http2Test::handle);
        HttpProxy p = proxy(b, UpstreamProtocol.H2C)) {
      ContentResponse r =
          h1.newRequest("127.0.0.1", p.port())
              .path("/x")
              .headers(h -> h.put("Host", "svc.example:81"))
              .send();
      assertThat(r.getStatus()).isEqualTo(200);
      assertThat(r.getVersion()).isEqualTo(HttpVersion.HTTP_1_1);
      assertThat(r.getHeaders().get("x-protocol")).isEqualTo("HTTP/2.0");
      assertThat(r.getHeaders().get("x-authority")).isEqualTo("svc.example:81");
      assertThat(r.getHeaders().get("x-connection")).isEqualTo("null");
    }
  }

  @Test
  void h2cClientReachesHttp11Backend() throws Exception {
    try (H2Backend b = H2Backend.h2c("b", Http2Test::handle);
        HttpProxy p = proxy(b, UpstreamProtocol.HTTP_1_1)) {
      ContentResponse r = h2.newRequest("127.0.0.1", p.port()).path("/x").send();
      assertThat(r.getStatus()).isEqualTo(200);
      assertThat(r.getVersion()).isEqualTo(HttpVersion.HTTP_2);
      assertThat(r.getHeaders().get("x-protocol")).isEqualTo("HTTP/1.1");
      // an HTTP/1.1 backend gets the client's :authority as its Host
      assertThat(r.getHeaders().get("x-host")).isEqualTo("127.0.0.1:" + p.port());
      assertThat(r.getHeaders().get("connection")).isNull();
    }
  }

  @Test
  void jdkClientUpgradesToH2c() throws Exception {
    try (H2Backend b = H2Backend.h2c("b", Http2Test::handle);
        HttpProxy p = proxy(b, UpstreamProtocol.H2C);
        java.net.http.HttpClient jdk =
            java.net.http.HttpClient.newBuilder()
                .version(java.net.http.HttpClient.Version.HTTP_2)
                .build()) {
      for (int i = 0; i < 3; i++) { // the first upgrades, the next ones go on the h2 connection
        java.net.http.HttpResponse<String> r =
            jdk.send(
                java.net.http.HttpRequest.newBuilder(p.uri().resolve("/u" + i)).build(),
                java.net.http.HttpResponse.BodyHandlers.ofString());
        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.version()).isEqualTo(java.net.http.HttpClient.Version.HTTP_2);
        assertThat(r.body()).isEqualTo("ok");
      }
    }
  }

  @Test
  void trailersPassBothWaysOverH2() throws Exception {
    try (H2Backend b = H2Backend.h2c("b", Http2Test::handle);
        HttpProxy p = proxy(b, UpstreamProtocol.H2C)) {
      AsyncRequestContent body = new AsyncRequestContent();
      var request =
          h2.newRequest("127.0.0.1", p.port())
              .method(HttpMethod.POST)
              .path("/trailers")
              .headers(h -> h.put("te", "trailers").put("content-type", "application/grpc"))
              .body(body)
              .trailersSupplier(() -> HttpFields.build().put("x-sum", "42"));
      var listener = new org.eclipse.jetty.client.CompletableResponseListener(request);
      var done = listener.send();
      body.write(false, ByteBuffer.wrap("hel".getBytes(StandardCharsets.UTF_8)), Callback.NOOP);
      body.write(false, ByteBuffer.wrap("lo".getBytes(StandardCharsets.UTF_8)), Callback.NOOP);
      body.close();
      ContentResponse r = done.get(20, TimeUnit.SECONDS);
      assertThat(r.getStatus()).isEqualTo(200);
      assertThat(r.getContentAsString()).isEqualTo("echo:hello");
      assertThat(r.getHeaders().get("x-got-te")).isEqualTo("trailers");
      assertThat(r.getTrailers()).isNotNull();
      assertThat(r.getTrailers().get("grpc-status")).isEqualTo("0");
      assertThat(r.getTrailers().get("x-sum")).isEqualTo("42");
    }
  }

  @Test
  void http11ClientGetsAnH2BackendsTrailersWhenChunked() throws Exception {
    try (H2Backend b = H2Backend.h2c("b", Http2Test::handle);
        HttpProxy p = proxy(b, UpstreamProtocol.H2C)) {
      AsyncRequestContent body = new AsyncRequestContent();
      var request =
          h1.newRequest("127.0.0.1", p.port())
              .method(HttpMethod.POST)
              .path("/trailers")
              .headers(h -> h.put("te", "trailers"))
              .body(body)
              .trailersSupplier(() -> HttpFields.build().put("x-sum", "7"));
      var done = new org.eclipse.jetty.client.CompletableResponseListener(request).send();
      body.write(false, ByteBuffer.wrap("abc".getBytes(StandardCharsets.UTF_8)), Callback.NOOP);
      body.close();
      ContentResponse r = done.get(20, TimeUnit.SECONDS);
      assertThat(r.getStatus()).isEqualTo(200);
      assertThat(r.getContentAsString()).isEqualTo("echo:abc");
      // a Content-Length response cannot carry trailers in HTTP/1.1: the body arrives whole
      if (r.getHeaders().get("content-length") == null) {
        assertThat(r.getTrailers().get("grpc-status")).isEqualTo("0");
        assertThat(r.getTrailers().get("x-sum")).isEqualTo("7");
      }
    }
  }

  @Test
  void bodiesOfNoDeclaredLengthStreamBothWaysWithoutBuffering() throws Exception {
    try (H2Backend b = H2Backend.h2c("b", Http2Test::handle);
        HttpProxy p = proxy(b, UpstreamProtocol.H2C)) {
      AsyncRequestContent body = new AsyncRequestContent();
      java.util.concurrent.BlockingQueue<String> echoes =
          new java.util.concurrent.LinkedBlockingQueue<>();
      java.util.concurrent.CompletableFuture<org.eclipse.jetty.client.Result> done =
          new java.util.concurrent.CompletableFuture<>();
      h2.newRequest("127.0.0.1", p.port())
          .method(HttpMethod.POST)
          .path("/echo-stream")
          .headers(h -> h.put("te", "trailers"))
          .body(body)
          .onResponseContent(
              (response, content) -> echoes.add(StandardCharsets.UTF_8.decode(content).toString()))
          .send(done::complete);
      // each piece comes back before the next is sent: nothing waits for the whole body
      for (String piece : new String[] {"one", "two", "three"}) {
        body.write(false, ByteBuffer.wrap(piece.getBytes(StandardCharsets.UTF_8)), Callback.NOOP);
        assertThat(echoes.poll(10, TimeUnit.SECONDS)).isEqualTo(piece);
      }
      body.close();
      org.eclipse.jetty.client.Result result = done.get(20, TimeUnit.SECONDS);
      assertThat(result.isSucceeded()).as(String.valueOf(result.getFailure())).isTrue();
      assertThat(result.getResponse().getTrailers().get("grpc-status")).isEqualTo("0");
    }
  }

  @Test
  void getFromAnH2ClientReachesAnHttp11BackendWithoutABody() throws Exception {
    try (TestBackend b = TestBackend.named("plain");
        HttpProxy p =
            HttpProxy.builder()
                .listen("127.0.0.1", 0)
                .h2c(true)
                .defaultRoute(Cluster.of("c", b.backend()))
                .start()) {
      ContentResponse r = h2.newRequest("127.0.0.1", p.port()).path("/g").send();
      assertThat(r.getStatus()).isEqualTo(200);
      assertThat(r.getContentAsString()).isEqualTo("plain");
      assertThat(b.last().header("transfer-encoding")).isNull();
      assertThat(b.last().header("content-length")).isNull();
    }
  }

  @Test
  void trailersOnlyResponseArrivesAsHeaders() throws Exception {
    try (H2Backend b = H2Backend.h2c("b", Http2Test::handle);
        HttpProxy p = proxy(b, UpstreamProtocol.H2C)) {
      ContentResponse r =
          h2.newRequest("127.0.0.1", p.port())
              .method(HttpMethod.POST)
              .path("/trailers-only")
              .headers(h -> h.put("te", "trailers"))
              .send();
      assertThat(r.getStatus()).isEqualTo(200);
      assertThat(r.getHeaders().get("grpc-status")).isEqualTo("12");
      assertThat(r.getHeaders().get("grpc-message")).isEqualTo("unimplemented");
      assertThat(r.getContent()).isEmpty();
      HttpFields t = r.getTrailers();
      assertThat(t == null || t.size() == 0).as("no empty trailers block").isTrue();
    }
  }
}
