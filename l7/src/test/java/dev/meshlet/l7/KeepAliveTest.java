package dev.meshlet.l7;

import static org.assertj.core.api.Assertions.assertThat;

import dev.meshlet.core.Cluster;
import dev.meshlet.testkit.NoLeakedThreads;
import java.io.InputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Silence between requests is the keep-alive timeout's; a slow next head is the head deadline's.
 */
@ExtendWith(NoLeakedThreads.class)
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class KeepAliveTest {
  private static final Duration HEAD = Duration.ofMillis(500);
  private static final Duration KEEP_ALIVE = Duration.ofMillis(1500);

  private static TestBackend backend;
  private HttpProxy proxy;

  @BeforeAll
  static void startBackend() throws Exception {
    backend = TestBackend.named("b");
  }

  @AfterAll
  static void stopBackend() throws Exception {
    backend.close();
  }

  @BeforeEach
  void startProxy() throws Exception {
    proxy =
        HttpProxy.builder()
            .listen("127.0.0.1", 0)
            .requestHeadTimeout(HEAD)
            .keepAliveTimeout(KEEP_ALIVE)
            .defaultRoute(Cluster.of("b", backend.backend()))
            .start();
  }

  @AfterEach
  void stopProxy() {
    proxy.close();
  }

  @Test
  void aSilentKeptAliveConnectionIsClosedAtTheKeepAliveTimeoutWithoutAnAnswer() throws Exception {
    try (Socket s = new Socket("127.0.0.1", proxy.port())) {
      s.setSoTimeout(20_000);
      s.getOutputStream()
          .write("GET /first HTTP/1.1\r\nHost: h\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
      InputStream in = s.getInputStream();
      assertThat(Raw.readResponses(in, 1)).startsWith("HTTP/1.1 200");
      long served = System.nanoTime();
      assertThat(in.read()).as("closed without a 408: no request began").isEqualTo(-1);
      Duration open = Duration.ofNanos(System.nanoTime() - served);
      assertThat(open)
          .as("kept open past the head deadline, closed at the keep-alive timeout")
          .isGreaterThanOrEqualTo(KEEP_ALIVE.minusMillis(100))
          .isLessThan(KEEP_ALIVE.plusSeconds(2));
    }
    assertThat(proxy.stats().total().errors(HttpProxyStats.ErrorKind.REQUEST_TIMEOUT)).isZero();
  }

  @Test
  void aPartialHeadAfterSilenceGets408AtTheHeadTimeoutFromItsFirstByte() throws Exception {
    try (Socket s = new Socket("127.0.0.1", proxy.port())) {
      s.setSoTimeout(20_000);
      s.getOutputStream()
          .write("GET /first HTTP/1.1\r\nHost: h\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
      assertThat(Raw.readResponses(s.getInputStream(), 1)).startsWith("HTTP/1.1 200");
      // silent for longer than the head deadline, within the keep-alive timeout: the scenario, not
      // a wait
      LockSupport.parkNanos(HEAD.plusMillis(300).toNanos());
      long began = System.nanoTime();
      s.getOutputStream()
          .write("GET /slow HTTP/1.1\r\nHost: h\r\n".getBytes(StandardCharsets.US_ASCII));
      Raw.Reply r = Raw.parse(Raw.readAll(s.getInputStream()));
      Duration took = Duration.ofNanos(System.nanoTime() - began);
      assertThat(r.status()).isEqualTo(408);
      assertThat(took)
          .as("the head deadline counts from the head's first byte")
          .isGreaterThanOrEqualTo(HEAD.minusMillis(150))
          .isLessThan(HEAD.plusSeconds(2));
    }
    assertThat(proxy.stats().total().errors(HttpProxyStats.ErrorKind.REQUEST_TIMEOUT)).isEqualTo(1);
  }

  @Test
  void aConnectionWithRequestsInTimeIsNeverCut() throws Exception {
    try (Socket s = new Socket("127.0.0.1", proxy.port())) {
      s.setSoTimeout(20_000);
      for (int i = 0; i < 3; i++) {
        s.getOutputStream()
            .write(
                ("GET /n" + i + " HTTP/1.1\r\nHost: h\r\n\r\n")
                    .getBytes(StandardCharsets.US_ASCII));
        assertThat(Raw.readResponses(s.getInputStream(), 1))
            .as("request %d", i)
            .startsWith("HTTP/1.1 200");
        LockSupport.parkNanos(
            HEAD.plusMillis(200).toNanos()); // idle past the head deadline each time
      }
    }
  }
}
