package dev.meshlet.l7;

import static org.assertj.core.api.Assertions.assertThat;

import dev.meshlet.core.Cluster;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.SplittableRandom;
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

/** One data backend for the forwarding tests, and a fresh proxy in front of it for each test. */
abstract class ForwardingTestSupport {
  static final int MIB = 1024 * 1024;

  static TestBackend backend;

  // one per test class, closed after its last test
  static HttpClient http;

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
        try (OutputStream out = Content.Sink.asOutputStream(response);
            InputStream in = new Bytes(7, size)) {
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
          response.write(
              true, ByteBuffer.wrap("hello".getBytes(StandardCharsets.US_ASCII)), callback);
        } else {
          callback.succeeded();
        }
      }
      case "/trailers" -> {
        response.setTrailersSupplier(() -> HttpFields.build().put("X-Checksum", "abc123"));
        response.write(
            false, ByteBuffer.wrap("part1-".getBytes(StandardCharsets.US_ASCII)), Callback.NOOP);
        response.write(
            true, ByteBuffer.wrap("part2".getBytes(StandardCharsets.US_ASCII)), callback);
      }
      case "/request-trailers" -> {
        byte[] body;
        try (InputStream in = Content.Source.asInputStream(request)) {
          body = in.readAllBytes();
        }
        HttpFields trailers = request.getTrailers();
        response
            .getHeaders()
            .put(
                "X-Got-Trailer", trailers == null ? "none" : String.valueOf(trailers.get("X-Sum")));
        response.write(true, ByteBuffer.wrap(body), callback);
      }
      case "/reject" -> {
        response.setStatus(417);
        response.write(true, ByteBuffer.wrap("nope".getBytes(StandardCharsets.US_ASCII)), callback);
      }
      default -> {
        response.getHeaders().put("Content-Type", "text/plain");
        response.write(
            true,
            ByteBuffer.wrap(
                ("ok " + request.getHttpURI().getPathQuery()).getBytes(StandardCharsets.UTF_8)),
            callback);
      }
    }
    return true;
  }

  @BeforeAll
  static void startBackend() throws Exception {
    http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
    backend = TestBackend.with("data", ForwardingTestSupport::handle);
  }

  @AfterAll
  static void stopBackend() throws Exception {
    backend.close();
    http.close();
  }

  @BeforeEach
  void startProxy() throws Exception {
    backend.requests.clear();
    proxy =
        HttpProxy.builder()
            .listen("127.0.0.1", 0)
            .defaultRoute(Cluster.of("data", backend.backend()))
            .start();
  }

  @AfterEach
  void stopProxy() {
    proxy.close();
  }

  void upload(boolean chunked) throws Exception {
    long size = 64L * MIB;
    String expected = sha256(new Bytes(11, size));
    HttpRequest.BodyPublisher stream =
        HttpRequest.BodyPublishers.ofInputStream(() -> new Bytes(11, size));
    HttpRequest.BodyPublisher body =
        chunked ? stream : HttpRequest.BodyPublishers.fromPublisher(stream, size);
    HttpResponse<String> r =
        http.send(
            HttpRequest.newBuilder(proxy.uri().resolve("/upload")).POST(body).build(),
            HttpResponse.BodyHandlers.ofString());
    assertThat(r.statusCode()).isEqualTo(200);
    assertThat(r.body()).isEqualTo(expected);
    assertThat(r.headers().firstValue("X-Length")).hasValue(chunked ? "-1" : String.valueOf(size));
    assertThat(backend.last().header("Transfer-Encoding")).isEqualTo(chunked ? "chunked" : null);
    assertThat(Idle.await(proxy).stats().total().bytesIn()).isEqualTo(size);
  }

  static String readAll(InputStream in) throws IOException {
    return new String(in.readAllBytes(), StandardCharsets.UTF_8);
  }
}
