package dev.meshlet.l7;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.meshlet.core.Backend;
import dev.meshlet.core.Cluster;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.zip.GZIPInputStream;
import java.util.zip.GZIPOutputStream;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.util.Callback;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Response compression: gzip for what qualifies, nothing else touched, streams flushed. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class CompressionTest extends ResilienceTestSupport {
  static final String BIG = "meshlet compresses text that repeats. ".repeat(2000);

  /** The Accept-Encoding each request reached the backend with ("-" for none). */
  final LinkedBlockingQueue<String> acceptEncodings = new LinkedBlockingQueue<>();

  final CountDownLatch secondChunk = new CountDownLatch(1);

  private int backend() throws Exception {
    Server server = new Server();
    ServerConnector connector = new ServerConnector(server, 1, 1);
    connector.setHost("127.0.0.1");
    server.addConnector(connector);
    server.setHandler(
        new Handler.Abstract() {
          @Override
          public boolean handle(Request request, Response response, Callback callback)
              throws Exception {
            String ae = request.getHeaders().get("Accept-Encoding");
            acceptEncodings.add(ae == null ? "-" : ae);
            String path = request.getHttpURI().getPath();
            switch (path) {
              case "/big" -> send(response, callback, "text/plain", BIG.getBytes());
              case "/small" -> send(response, callback, "text/plain", "short".getBytes());
              case "/grpc" -> send(response, callback, "application/grpc", BIG.getBytes());
              case "/encoded" -> {
                response.getHeaders().put("Content-Encoding", "gzip");
                send(response, callback, "text/plain", gzip(BIG));
              }
              case "/stream" -> {
                response.getHeaders().put("Content-Type", "text/event-stream");
                response.write(
                    false,
                    ByteBuffer.wrap("data: one\n\n".getBytes()),
                    Callback.from(
                        () ->
                            Thread.ofVirtual()
                                .start(
                                    () -> {
                                      boolean released = false;
                                      try {
                                        released = secondChunk.await(20, TimeUnit.SECONDS);
                                      } catch (InterruptedException e) {
                                        Thread.currentThread().interrupt();
                                      }
                                      // "late": the first chunk never reached the client alone
                                      String last = released ? "data: two\n\n" : "data: late\n\n";
                                      response.write(
                                          true, ByteBuffer.wrap(last.getBytes()), callback);
                                    }),
                        callback::failed));
              }
              default -> {
                response.setStatus(404);
                callback.succeeded();
              }
            }
            return true;
          }
        });
    server.start();
    resources.track(server::stop);
    return connector.getLocalPort();
  }

  private static void send(Response response, Callback callback, String type, byte[] body) {
    response.getHeaders().put("Content-Type", type);
    response.getHeaders().put("Content-Length", body.length);
    response.write(true, ByteBuffer.wrap(body), callback);
  }

  private HttpProxy proxy(int port, ResponseCompression c) throws Exception {
    return resources.track(
        HttpProxy.builder()
            .listen("127.0.0.1", 0)
            .defaultRoute(Cluster.of("b", Backend.of("127.0.0.1", port)))
            .compression(c)
            .start());
  }

  private HttpResponse<byte[]> fetch(HttpProxy proxy, String path) throws Exception {
    return http.send(
        HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + proxy.port() + path))
            .header("Accept-Encoding", "gzip")
            .build(),
        HttpResponse.BodyHandlers.ofByteArray());
  }

  @Test
  void aLargeTextBodyIsGzippedForAClientThatAcceptsItAndTheBackendStillSeesAcceptEncoding()
      throws Exception {
    HttpProxy proxy = proxy(backend(), ResponseCompression.defaults());

    HttpResponse<byte[]> r = fetch(proxy, "/big");

    assertThat(r.headers().firstValue("Content-Encoding")).hasValue("gzip");
    assertThat(r.headers().allValues("Vary").toString()).containsIgnoringCase("Accept-Encoding");
    assertThat(r.body().length).isLessThan(BIG.length() / 10);
    assertThat(gunzip(r.body())).isEqualTo(BIG);
    assertThat(acceptEncodings.poll()).isEqualTo("gzip"); // kept, as Envoy does by default

    HttpResponse<String> plain = get(proxy, "/big"); // no Accept-Encoding: as the backend sent it
    assertThat(plain.headers().firstValue("Content-Encoding")).isEmpty();
    assertThat(plain.body()).isEqualTo(BIG);
  }

  @Test
  void smallBodiesGrpcAndBodiesTheBackendEncodedAreNotCompressed() throws Exception {
    HttpProxy proxy = proxy(backend(), ResponseCompression.defaults());

    HttpResponse<byte[]> small = fetch(proxy, "/small");
    assertThat(small.headers().firstValue("Content-Encoding")).isEmpty();
    assertThat(new String(small.body(), StandardCharsets.UTF_8)).isEqualTo("short");

    HttpResponse<byte[]> grpc = fetch(proxy, "/grpc");
    assertThat(grpc.headers().firstValue("Content-Encoding")).isEmpty();
    assertThat(new String(grpc.body(), StandardCharsets.UTF_8)).isEqualTo(BIG);

    HttpResponse<byte[]> encoded = fetch(proxy, "/encoded");
    assertThat(encoded.headers().allValues("Content-Encoding")).containsExactly("gzip");
    assertThat(encoded.body()).isEqualTo(gzip(BIG)); // byte for byte what the backend sent
  }

  @Test
  void aStreamedResponseReachesTheClientChunkByChunk() throws Exception {
    HttpProxy proxy = proxy(backend(), ResponseCompression.defaults().withMinBytes(0));
    HttpResponse<InputStream> r =
        http.send(
            HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + proxy.port() + "/stream"))
                .header("Accept-Encoding", "gzip")
                .build(),
            HttpResponse.BodyHandlers.ofInputStream());
    assertThat(r.headers().firstValue("Content-Encoding")).hasValue("gzip");
    try (InputStream in = new GZIPInputStream(r.body(), 64)) {
      byte[] first = new byte["data: one\n\n".length()];
      // the backend holds its second write until this first one has been read
      assertThat(in.readNBytes(first, 0, first.length)).isEqualTo(first.length);
      assertThat(new String(first, StandardCharsets.UTF_8)).isEqualTo("data: one\n\n");
      secondChunk.countDown();
      assertThat(new String(in.readAllBytes(), StandardCharsets.UTF_8)).isEqualTo("data: two\n\n");
    }
  }

  @Test
  void removeAcceptEncodingLeavesTheCompressingToTheProxy() throws Exception {
    HttpProxy proxy =
        proxy(backend(), ResponseCompression.defaults().withRemoveAcceptEncoding(true));

    HttpResponse<byte[]> r = fetch(proxy, "/big");

    assertThat(r.headers().firstValue("Content-Encoding")).hasValue("gzip");
    assertThat(gunzip(r.body())).isEqualTo(BIG);
    assertThat(acceptEncodings.poll()).isEqualTo("-");
  }

  @Test
  void badSettingsSayWhatToFix() {
    assertThatThrownBy(() -> ResponseCompression.defaults().withMinBytes(-1))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("compression minBytes: -1 (expected: >= 0)");
    assertThatThrownBy(() -> ResponseCompression.defaults().withMimeTypes("application/grpc+proto"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("gRPC");
    assertThatThrownBy(() -> ResponseCompression.defaults().withMimeTypes("html"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("expected: type/subtype");
  }

  static byte[] gzip(String s) throws Exception {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    try (GZIPOutputStream z = new GZIPOutputStream(out)) {
      z.write(s.getBytes(StandardCharsets.UTF_8));
    }
    return out.toByteArray();
  }

  static String gunzip(byte[] b) throws Exception {
    try (InputStream in = new GZIPInputStream(new ByteArrayInputStream(b))) {
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    }
  }
}
