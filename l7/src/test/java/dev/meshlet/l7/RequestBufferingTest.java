package dev.meshlet.l7;

import static org.assertj.core.api.Assertions.assertThat;

import dev.meshlet.core.Cluster;
import dev.meshlet.testkit.Await;
import dev.meshlet.testkit.NoLeakedThreads;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

/** Small request bodies are read whole before a backend connection is taken, within a budget. */
@ExtendWith(NoLeakedThreads.class)
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class RequestBufferingTest {

  /** Opens a connection and sends a POST head declaring {@code length} and {@code sent} bytes. */
  private static Socket partialUpload(HttpProxy proxy, int length, int sent, String extra)
      throws IOException {
    Socket s = new Socket(InetAddress.getLoopbackAddress(), proxy.port());
    s.setSoTimeout(20_000);
    OutputStream out = s.getOutputStream();
    out.write(
        ("POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: " + length + "\r\n" + extra + "\r\n")
            .getBytes(StandardCharsets.US_ASCII));
    out.write("a".repeat(sent).getBytes(StandardCharsets.US_ASCII));
    out.flush();
    return s;
  }

  private static void closeAll(List<Socket> sockets) throws IOException {
    for (Socket s : sockets) {
      s.close();
    }
  }

  @Test
  void slowUploadsHoldNoBackendConnectionSoNormalRequestsAreAnswered() throws Exception {
    try (TestBackend backend = DeadlinesTest.reading(200, Duration.ZERO)) {
      Cluster c = Cluster.of("c", backend.backend());
      try (HttpProxy proxy = HttpProxy.builder().listen("127.0.0.1", 0).defaultRoute(c).start()) {
        List<Socket> slow = new ArrayList<>();
        try {
          for (int i = 0; i < 200; i++) {
            slow.add(partialUpload(proxy, 4096, 3, ""));
          }
          Await.until("200 slow uploads arrived", () -> proxy.stats().total().inFlight() == 200);
          long start = System.nanoTime();
          for (int i = 0; i < 50; i++) {
            Raw.Reply r =
                Raw.exchange(
                    proxy.port(), "GET /n HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
            assertThat(r.status()).isEqualTo(200);
          }
          assertThat(Duration.ofNanos(System.nanoTime() - start))
              .isLessThan(Duration.ofSeconds(10));
          assertThat(backend.requests).hasSize(50); // not one slow upload reached it
          assertThat(backend.connections.get()).isLessThanOrEqualTo(5);
        } finally {
          closeAll(slow);
        }
        Idle.await(proxy);
        assertThat(proxy.stats().buffering().bytesHeld()).isZero();
      }
    }
  }

  @Test
  void aDeclaredLengthThatIsNotSentTakesNoBudget() throws Exception {
    try (TestBackend backend = DeadlinesTest.reading(200, Duration.ZERO)) {
      Cluster c = Cluster.of("c", backend.backend());
      try (HttpProxy proxy = HttpProxy.builder().listen("127.0.0.1", 0).defaultRoute(c).start()) {
        List<Socket> slow = new ArrayList<>();
        try {
          for (int i = 0; i < 20; i++) {
            slow.add(partialUpload(proxy, 65536, 10, ""));
          }
          Await.until("the sent bytes are held", () -> held(proxy) == 200);
          assertThat(proxy.stats().total().inFlight()).isEqualTo(20);
          assertThat(held(proxy)).isEqualTo(200); // what arrived, not 20 x 65536 declared
          assertThat(backend.connections.get()).isZero();
        } finally {
          closeAll(slow);
        }
        Idle.await(proxy);
        assertThat(held(proxy)).isZero(); // given back when each exchange ended
      }
    }
  }

  private static long held(HttpProxy proxy) {
    return proxy.stats().buffering().bytesHeld();
  }

  @Test
  void aBodyOverTheBufferSizeStreams() throws Exception {
    try (TestBackend backend = DeadlinesTest.reading(200, Duration.ZERO)) {
      Cluster c = Cluster.of("c", backend.backend());
      try (HttpProxy proxy =
              HttpProxy.builder()
                  .listen("127.0.0.1", 0)
                  .defaultRoute(c)
                  .requestBufferSize(1024)
                  .start();
          Socket s = partialUpload(proxy, 2048, 100, "Connection: close\r\n")) {
        // the backend has the head before the client sent the rest
        Await.until("the backend saw the request", () -> backend.requests.size() == 1);
        OutputStream out = s.getOutputStream();
        out.write("b".repeat(1948).getBytes(StandardCharsets.US_ASCII));
        out.flush();
        Raw.Reply r = Raw.parse(Raw.readAll(s.getInputStream()));
        assertThat(r.status()).isEqualTo(200);
        assertThat(r.body()).hasSize(4 + 2048);
        assertThat(Idle.await(proxy).stats().buffering().budgetFallbacks()).isZero();
      }
    }
  }

  @Test
  void anExpectContinueBodyIsNotBuffered() throws Exception {
    try (TestBackend backend = DeadlinesTest.reading(200, Duration.ZERO)) {
      Cluster c = Cluster.of("c", backend.backend());
      try (HttpProxy proxy = HttpProxy.builder().listen("127.0.0.1", 0).defaultRoute(c).start();
          Socket s =
              partialUpload(proxy, 100, 0, "Expect: 100-continue\r\nConnection: close\r\n")) {
        Await.until("the backend saw the request", () -> backend.requests.size() == 1);
        InputStream in = s.getInputStream();
        String interim = readHead(in);
        assertThat(interim).startsWith("HTTP/1.1 100 ");
        OutputStream out = s.getOutputStream();
        out.write("c".repeat(100).getBytes(StandardCharsets.US_ASCII));
        out.flush();
        Raw.Reply r = Raw.parse(Raw.readAll(in));
        assertThat(r.status()).isEqualTo(200);
        assertThat(r.body()).isEqualTo("got " + "c".repeat(100));
      }
    }
  }

  /** Reads up to the end of one response head. */
  private static String readHead(InputStream in) throws IOException {
    StringBuilder b = new StringBuilder();
    while (b.length() < 4 || !b.substring(b.length() - 4).equals("\r\n\r\n")) {
      int c = in.read();
      if (c < 0) {
        break;
      }
      b.append((char) c);
    }
    return b.toString();
  }

  @Test
  void aBodyPastTheBudgetStreamsAndIsCounted() throws Exception {
    try (TestBackend backend = DeadlinesTest.reading(200, Duration.ZERO)) {
      Cluster c = Cluster.of("c", backend.backend());
      try (HttpProxy proxy =
          HttpProxy.builder()
              .listen("127.0.0.1", 0)
              .defaultRoute(c)
              .requestBufferBudget(100)
              .start()) {
        String body = "d".repeat(500);
        Raw.Reply r =
            Raw.exchange(
                proxy.port(),
                "POST /p HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 500\r\n\r\n"
                    + body);
        assertThat(r.status()).isEqualTo(200);
        assertThat(r.body()).isEqualTo("got " + body);
        HttpProxyStats.Buffering b = Idle.await(proxy).stats().buffering();
        assertThat(b.budgetFallbacks()).isEqualTo(1);
        assertThat(b.bytesHeld()).isZero();
      }
    }
  }

  @Test
  void aBudgetOfZeroStreamsEveryBodyAndCountsNoFallback() throws Exception {
    try (TestBackend backend = DeadlinesTest.reading(200, Duration.ZERO)) {
      Cluster c = Cluster.of("c", backend.backend());
      try (HttpProxy proxy =
          HttpProxy.builder()
              .listen("127.0.0.1", 0)
              .defaultRoute(c)
              .retryPolicy(RetryPolicy.builder().maxAttempts(2).idempotentOnly(false).build())
              .requestBufferBudget(0)
              .start()) {
        for (int i = 0; i < 3; i++) {
          Raw.Reply r =
              Raw.exchange(
                  proxy.port(),
                  "POST /p HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 5\r\n\r\n"
                      + "hello");
          assertThat(r.status()).isEqualTo(200);
          assertThat(r.body()).isEqualTo("got hello");
        }
        HttpProxyStats.Buffering b = Idle.await(proxy).stats().buffering();
        assertThat(b.budgetFallbacks()).isZero();
        assertThat(b.bytesHeld()).isZero();
      }
    }
  }

  @Test
  void aBodyLateWhileBufferedIs408WithoutTouchingTheBackend() throws Exception {
    try (TestBackend backend = DeadlinesTest.reading(200, Duration.ZERO)) {
      Cluster c = Cluster.of("c", backend.backend());
      try (HttpProxy proxy =
              HttpProxy.builder()
                  .listen("127.0.0.1", 0)
                  .defaultRoute(c)
                  .requestBodyTimeout(Duration.ofMillis(300))
                  .start();
          Socket s = partialUpload(proxy, 1000, 10, "")) {
        Raw.Reply r = Raw.parse(Raw.readAll(s.getInputStream()));
        assertThat(r.status()).isEqualTo(408);
        HttpProxyStats st = Idle.await(proxy).stats();
        assertThat(st.total().errors(HttpProxyStats.ErrorKind.REQUEST_TIMEOUT)).isEqualTo(1);
        assertThat(st.backends()).doesNotContainKey(backend.name);
        assertThat(backend.connections.get()).isZero();
      }
    }
  }

  @Test
  void aClientPauseMidBodyIs408NotA504AgainstTheBackend() throws Exception {
    try (TestBackend backend = DeadlinesTest.reading(200, Duration.ZERO)) {
      Cluster c = Cluster.of("c", backend.backend());
      try (HttpProxy proxy =
              HttpProxy.builder()
                  .listen("127.0.0.1", 0)
                  .defaultRoute(c)
                  .requestBufferSize(0)
                  .responseTimeout(Duration.ofMillis(100))
                  .upstreamIdleTimeout(Duration.ofMillis(200))
                  .requestBodyTimeout(Duration.ofSeconds(30))
                  .start();
          Socket s = partialUpload(proxy, 100_000, 1000, "")) {
        // the proxy request goes idle (about 1.1 s) while the client holds back the rest
        Raw.Reply r = Raw.parse(Raw.readAll(s.getInputStream()));
        assertThat(r.status()).isEqualTo(408);
        HttpProxyStats st = Idle.await(proxy).stats();
        assertThat(st.total().errors(HttpProxyStats.ErrorKind.REQUEST_TIMEOUT)).isEqualTo(1);
        assertThat(st.total().errors(HttpProxyStats.ErrorKind.GATEWAY_TIMEOUT)).isZero();
        assertThat(backend.requests).hasSize(1); // it did reach the backend: streamed
      }
    }
  }
}
