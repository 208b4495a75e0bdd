package dev.meshlet.l7;

import static org.assertj.core.api.Assertions.assertThat;

import dev.meshlet.core.Backend;
import dev.meshlet.core.Cluster;
import java.io.BufferedInputStream;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Locale;
import java.util.Random;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.zip.CRC32;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Pooled connections the backend closed under the proxy: retried, replayed whole, never twice. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class StaleConnectionTest extends ResilienceTestSupport {
  @Test
  void stalePooledConnectionClosedByTheBackendNeverReachesTheClient() throws Exception {
    // A backend that closes a kept-alive connection when the next request arrives on it,
    // unanswered:
    // the keep-alive race, every time. No retry policy: the stale-connection retry is always on.
    try (ServerSocket server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress())) {
      AtomicInteger seen = new AtomicInteger();
      Thread acceptor =
          Thread.ofVirtual()
              .start(
                  () -> {
                    while (!server.isClosed()) {
                      try {
                        Socket s = server.accept();
                        Thread.ofVirtual().start(() -> serveOnceThenDrop(s, seen));
                      } catch (IOException e) {
                        return;
                      }
                    }
                  });
      Cluster c = Cluster.of("c", Backend.of("127.0.0.1", server.getLocalPort()));
      HttpProxy proxy =
          resources.track(HttpProxy.builder().listen("127.0.0.1", 0).defaultRoute(c).start());
      for (int i = 0; i < 20; i++) {
        HttpResponse<String> r =
            i % 2 == 0
                ? get(proxy, "/g")
                : http.send(
                    HttpRequest.newBuilder(proxy.uri().resolve("/p")).DELETE().build(),
                    HttpResponse.BodyHandlers.ofString());
        assertThat(r.statusCode()).as("request %d", i).isEqualTo(200);
      }
      HttpProxyStats s = Idle.await(proxy).stats();
      assertThat(s.retries().count(HttpProxyStats.RetryReason.STALE_CONNECTION))
          .isGreaterThanOrEqualTo(19);
      assertThat(s.total().status5xx()).isZero();
      assertThat(c.endpoints().get(0).stats().ejected()).isFalse();
      server.close();
      acceptor.join();
    }
  }

  @Test
  void streamedBodyOnAStaleConnectionIsReplayedWhole() throws Exception {
    // No retry policy, so bodies stream; PUT is idempotent, so a stale connection is always
    // retried.
    // The backend drops every second request on a connection after
    // reading only its head. What the proxy sent of each body (at most 40 KiB) is replayed on a
    // fresh
    // connection, then the rest follows from the client: every body reaches the backend exact.
    try (DroppingBackend backend = new DroppingBackend(0)) {
      Cluster c = Cluster.of("c", Backend.of("127.0.0.1", backend.port()));
      HttpProxy proxy =
          resources.track(HttpProxy.builder().listen("127.0.0.1", 0).defaultRoute(c).start());
      Random random = new Random(42);
      for (int i = 0; i < 12; i++) {
        byte[] body = new byte[i % 3 == 0 ? 5 : 1000 + random.nextInt(40_000)];
        random.nextBytes(body);
        HttpRequest.BodyPublisher publisher =
            i % 2 == 0
                ? HttpRequest.BodyPublishers.ofByteArray(body) // Content-Length
                : HttpRequest.BodyPublishers.ofInputStream(
                    () -> new ByteArrayInputStream(body)); // chunked
        HttpResponse<String> r =
            http.send(
                HttpRequest.newBuilder(proxy.uri().resolve("/drop"))
                    .PUT(publisher)
                    .timeout(Duration.ofSeconds(20))
                    .build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(r.statusCode()).as("request %d", i).isEqualTo(200);
        assertThat(r.body()).as("request %d", i).isEqualTo(DroppingBackend.digest(body));
      }
      HttpProxyStats s = Idle.await(proxy).stats();
      // usually 11 (each request after the first lands on a used connection); fewer when the pool
      // opened a fresh connection because the previous one was not back in it yet
      assertThat(backend.dropped.get()).isPositive();
      assertThat(s.retries().count(HttpProxyStats.RetryReason.STALE_CONNECTION))
          .isEqualTo(backend.dropped.get());
      assertThat(s.retries().notReplayable()).isZero();
      assertThat(s.total().status5xx()).isZero();
      assertThat(s.total().bytesIn())
          .as("replayed bytes are not counted twice")
          .isLessThanOrEqualTo(12L * 41_000);
    }
  }

  @Test
  void chunkedBodyReadAheadInSmallChunksIsReplayedWholeAfterAStaleConnection() throws Exception {
    // Many small chunks in one write are read ahead and held as one before the try is sent; the
    // backend drops the used connection after the head, and the held bytes are replayed exact.
    try (DroppingBackend backend = new DroppingBackend(0)) {
      Cluster c = Cluster.of("c", Backend.of("127.0.0.1", backend.port()));
      HttpProxy proxy =
          resources.track(HttpProxy.builder().listen("127.0.0.1", 0).defaultRoute(c).start());
      ByteArrayOutputStream body = new ByteArrayOutputStream();
      StringBuilder wire = new StringBuilder();
      for (int i = 0; body.size() < 20_000; i++) {
        String data = String.valueOf((char) ('a' + i % 26)).repeat(1 + i % 37);
        wire.append(Integer.toHexString(data.length())).append("\r\n").append(data).append("\r\n");
        body.writeBytes(data.getBytes(StandardCharsets.US_ASCII));
      }
      // on a fresh connection (the warm one not back in the pool yet) it is simply answered: try
      // again
      for (int i = 0; i < 10 && backend.dropped.get() == 0; i++) {
        assertThat(post(proxy, 10).statusCode())
            .isEqualTo(200); // "/p": always answered, warms a connection
        Raw.Reply r =
            Raw.exchange(
                proxy.port(),
                "PUT /drop HTTP/1.1\r\nHost: h\r\nConnection: close\r\n"
                    + "Transfer-Encoding: chunked\r\n\r\n"
                    + wire
                    + "0\r\n\r\n");
        assertThat(r.status()).as(r.raw()).isEqualTo(200);
        assertThat(r.body()).isEqualTo(DroppingBackend.digest(body.toByteArray()));
      }
      assertThat(backend.dropped.get()).isEqualTo(1);
      HttpProxyStats s = Idle.await(proxy).stats();
      assertThat(s.retries().count(HttpProxyStats.RetryReason.STALE_CONNECTION)).isEqualTo(1);
      assertThat(s.retries().notReplayable()).isZero();
    }
  }

  @Test
  void streamedBodyPastTheReplayWindowIsNotRetried() throws Exception {
    // The backend reads 100 KiB of the second request's body, then drops the connection unanswered:
    // the proxy sent more than it keeps for replay, so the client gets 502 and nothing is retried.
    try (DroppingBackend backend = new DroppingBackend(100 * 1024)) {
      Cluster c = Cluster.of("c", Backend.of("127.0.0.1", backend.port()));
      HttpProxy proxy =
          resources.track(HttpProxy.builder().listen("127.0.0.1", 0).defaultRoute(c).start());
      byte[] big = new byte[1 << 20];
      // a big POST lands on a used connection unless the pool opened a fresh one for it (the
      // previous
      // one not back in the pool yet); then it is answered and the pair is sent again
      for (int i = 0; i < 10 && backend.dropped.get() == 0; i++) {
        assertThat(post(proxy, 10).statusCode())
            .isEqualTo(200); // "/p": always answered, warms a connection
        HttpResponse<String> r =
            http.send(
                HttpRequest.newBuilder(proxy.uri().resolve("/drop"))
                    .PUT(HttpRequest.BodyPublishers.ofByteArray(big))
                    .timeout(Duration.ofSeconds(20))
                    .build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(r.statusCode()).isEqualTo(backend.dropped.get() == 1 ? 502 : 200);
      }
      assertThat(backend.dropped.get()).isEqualTo(1);
      HttpProxyStats s = Idle.await(proxy).stats();
      assertThat(s.retries().total()).isZero();
      assertThat(s.retries().notReplayable()).isEqualTo(1);
    }
  }

  @Test
  void postTheBackendMayHaveReceivedWholeIsNotSentTwice() throws Exception {
    // The backend reads a POST whole (head and body), then closes without answering: it may have
    // acted on it. Without a retry policy the proxy must not send it again (RFC 9110 §9.2.2): 502.
    try (DroppingBackend backend = new DroppingBackend(5)) {
      Cluster c = Cluster.of("c", Backend.of("127.0.0.1", backend.port()));
      HttpProxy proxy =
          resources.track(HttpProxy.builder().listen("127.0.0.1", 0).defaultRoute(c).start());
      for (int i = 0; i < 10 && backend.dropped.get() == 0; i++) {
        assertThat(post(proxy, 1).statusCode())
            .isEqualTo(200); // "/p": always answered, warms a connection
        HttpResponse<String> r =
            http.send(
                HttpRequest.newBuilder(proxy.uri().resolve("/drop-pay"))
                    .POST(HttpRequest.BodyPublishers.ofString("$1000"))
                    .timeout(Duration.ofSeconds(20))
                    .build(),
                HttpResponse.BodyHandlers.ofString());
        // on a fresh connection (the warm one not back in the pool yet) it is simply answered
        assertThat(r.statusCode()).isEqualTo(backend.dropped.get() == 1 ? 502 : 200);
      }
      assertThat(backend.dropped.get()).isEqualTo(1);
      HttpProxyStats s = Idle.await(proxy).stats();
      assertThat(s.retries().total()).isZero();
      assertThat(s.total().errors(HttpProxyStats.ErrorKind.BAD_GATEWAY)).isEqualTo(1);
    }
  }

  /**
   * A raw HTTP/1.1 backend that answers each request with a digest of its body, except a request
   * for {@code /drop…} that is not the first on its connection: of that it reads the head (and up
   * to {@code readBeforeDrop} bytes of the body), then closes the connection unanswered — the
   * keep-alive race, every time.
   */
  private static final class DroppingBackend implements AutoCloseable {
    final AtomicInteger answered = new AtomicInteger();
    final AtomicInteger dropped = new AtomicInteger();
    private final ServerSocket server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
    private final int readBeforeDrop;
    private final Thread acceptor;

    DroppingBackend(int readBeforeDrop) throws IOException {
      this.readBeforeDrop = readBeforeDrop;
      acceptor =
          Thread.ofVirtual()
              .start(
                  () -> {
                    while (!server.isClosed()) {
                      try {
                        Socket s = server.accept();
                        Thread.ofVirtual().start(() -> serve(s));
                      } catch (IOException e) {
                        return;
                      }
                    }
                  });
    }

    int port() {
      return server.getLocalPort();
    }

    static String digest(byte[] body) {
      CRC32 crc = new CRC32();
      crc.update(body);
      return body.length + ":" + Long.toHexString(crc.getValue());
    }

    private void serve(Socket s) {
      try (s) {
        BufferedInputStream in = new BufferedInputStream(s.getInputStream());
        OutputStream out = s.getOutputStream();
        for (int n = 0; ; n++) {
          String head = readHeadText(in);
          if (head == null) {
            return;
          }
          String lower = head.toLowerCase(Locale.ROOT);
          int length =
              lower.contains("content-length:")
                  ? Integer.parseInt(
                      lower
                          .substring(
                              lower.indexOf("content-length:") + 15,
                              lower.indexOf('\r', lower.indexOf("content-length:")))
                          .strip())
                  : -1;
          if (n > 0 && head.startsWith("/drop", head.indexOf(' ') + 1)) {
            in.readNBytes(length >= 0 ? Math.min(readBeforeDrop, length) : readBeforeDrop);
            dropped.incrementAndGet();
            return; // a second request on a connection: close it unanswered
          }
          byte[] body;
          if (lower.contains("transfer-encoding: chunked")) {
            ByteArrayOutputStream b = new ByteArrayOutputStream();
            while (true) {
              int size = Integer.parseInt(line(in).split(";")[0].strip(), 16);
              if (size == 0) {
                while (!line(in).isEmpty()) {} // trailers
                break;
              }
              b.write(in.readNBytes(size));
              line(in);
            }
            body = b.toByteArray();
          } else {
            body = length < 0 ? new byte[0] : in.readNBytes(length);
          }
          byte[] answer = digest(body).getBytes(StandardCharsets.US_ASCII);
          out.write(
              ("HTTP/1.1 200 OK\r\nContent-Length: " + answer.length + "\r\n\r\n")
                  .getBytes(StandardCharsets.US_ASCII));
          out.write(answer);
          out.flush();
          answered.incrementAndGet();
        }
      } catch (IOException | RuntimeException ignored) {
        // the proxy closed
      }
    }

    private static @Nullable String readHeadText(InputStream in) throws IOException {
      StringBuilder head = new StringBuilder();
      for (String l; !(l = line(in)).isEmpty(); ) {
        head.append(l).append("\r\n");
      }
      return head.isEmpty() ? null : head.toString();
    }

    private static String line(InputStream in) throws IOException {
      StringBuilder b = new StringBuilder();
      for (int c; (c = in.read()) != -1 && c != '\n'; ) {
        if (c != '\r') {
          b.append((char) c);
        }
      }
      return b.toString();
    }

    @Override
    public void close() throws Exception {
      server.close();
      acceptor.join();
    }
  }

  private static void serveOnceThenDrop(Socket s, AtomicInteger seen) {
    try (s) {
      InputStream in = s.getInputStream();
      OutputStream out = s.getOutputStream();
      for (int n = 0; ; n++) {
        if (!readHead(in)) {
          return;
        }
        seen.incrementAndGet();
        if (n > 0) {
          return; // the second request on a connection: close it unanswered
        }
        out.write(
            "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".getBytes(StandardCharsets.US_ASCII));
        out.flush();
      }
    } catch (IOException ignored) {
      // the proxy closed
    }
  }

  private static boolean readHead(InputStream in) throws IOException {
    int state = 0;
    for (int c; (c = in.read()) != -1; ) {
      state =
          (c == '\r' && (state == 0 || state == 2)) || (c == '\n' && (state == 1 || state == 3))
              ? state + 1
              : 0;
      if (state == 4) {
        return true;
      }
    }
    return false;
  }

  @Test
  void backendWithShortKeepAliveTimeoutCausesNo502() throws Exception {
    Box b = resources.track(new Box("b", 150));
    Cluster c = Cluster.of("c", b.backend());
    HttpProxy proxy =
        resources.track(HttpProxy.builder().listen("127.0.0.1", 0).defaultRoute(c).start());
    ScheduledExecutorService pace = Executors.newSingleThreadScheduledExecutor();
    try {
      for (int i = 0; i < 16; i++) {
        HttpResponse<String> r = get(proxy, "/x");
        assertThat(r.statusCode()).as("request %d", i).isEqualTo(200);
        // spaced around the backend's 150 ms idle timeout, so its close races the next request
        long gap = 140 + (i % 4) * 8;
        pace.schedule(() -> {}, gap, TimeUnit.MILLISECONDS).get();
      }
    } finally {
      pace.shutdownNow();
    }
    assertThat(Idle.await(proxy).stats().total().status5xx()).isZero();
  }
}
