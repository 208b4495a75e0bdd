package dev.meshlet.l4;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.meshlet.core.Cluster;
import dev.meshlet.testkit.Await;
import dev.meshlet.testkit.EchoServer;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * TLS passthrough routed by server name: three pools, each backend recording the bytes it got, so a
 * test can tell both where a hello went and that it arrived untouched.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class SniRoutingTest extends TcpProxyTestSupport {
  /** What each backend received first, by backend name. */
  private final Map<String, byte[]> received = new ConcurrentHashMap<>();

  /** A backend that reads {@code expect} bytes, records them, answers its name and closes. */
  private EchoServer recorder(String name, int expect) {
    return resources.track(
        EchoServer.handling(
            s -> {
              byte[] got = s.getInputStream().readNBytes(expect);
              received.put(name, got);
              s.getOutputStream().write(name.getBytes(StandardCharsets.US_ASCII));
              s.shutdownOutput();
            }));
  }

  private Cluster pool(String name, int expect) {
    EchoServer a = recorder(name, expect);
    return resources.track(Cluster.of(name, backend(a)));
  }

  private TcpProxy sniProxy(int expect, boolean closeWithout) throws IOException {
    return start(
        TcpProxy.builder()
            .listen("127.0.0.1", 0)
            .sniRoute("api.example.com", pool("api", expect))
            .sniRoute("*.db.example.com", pool("db", expect))
            .cluster(pool("default", expect))
            .closeWithoutServerName(closeWithout)
            .handshakeTimeout(Duration.ofSeconds(5)));
  }

  /** Sends {@code bytes} (in pieces of {@code piece} bytes) and reads the backend's name. */
  private String send(TcpProxy proxy, byte[] bytes, int piece) throws IOException {
    Socket s = connect(proxy);
    s.setTcpNoDelay(true);
    OutputStream out = s.getOutputStream();
    for (int p = 0; p < bytes.length; p += piece) {
      out.write(bytes, p, Math.min(piece, bytes.length - p));
      out.flush();
    }
    String answer = new String(s.getInputStream().readAllBytes(), StandardCharsets.US_ASCII);
    s.close();
    return answer;
  }

  @Test
  void routesByExactAndWildcardNameAndReplaysTheHelloUntouched() throws Exception {
    byte[] api = Hellos.jdk("api.example.com", "h2");
    byte[] db = Hellos.jdk("eu1.db.example.com");
    byte[] other = Hellos.jdk("www.example.org");
    int size = Math.min(api.length, Math.min(db.length, other.length));
    TcpProxy proxy = sniProxy(size, false);
    assertThat(send(proxy, api, api.length)).isEqualTo("api");
    assertThat(send(proxy, db, 100)).isEqualTo("db"); // in pieces: reassembled across reads
    assertThat(send(proxy, other, other.length)).isEqualTo("default");
    assertThat(received.get("api")).isEqualTo(Arrays.copyOf(api, size));
    assertThat(received.get("db")).isEqualTo(Arrays.copyOf(db, size));
    assertThat(received.get("default")).isEqualTo(Arrays.copyOf(other, size));
    proxy.awaitIdle(Duration.ofSeconds(10));
    TcpProxyStats.Hellos h = proxy.stats().hellos();
    assertThat(h.routed()).isEqualTo(2);
    assertThat(h.defaulted()).isEqualTo(1);
  }

  @Test
  void aHelloSplitAcrossRecordsIsRoutedAndSentAsTheClientSplitIt() throws Exception {
    byte[] split = Hellos.resplit(Hellos.jdk("api.example.com"), 300);
    TcpProxy proxy = sniProxy(split.length, false);
    assertThat(send(proxy, split, 7)).isEqualTo("api");
    assertThat(received.get("api")).isEqualTo(split);
  }

  @Test
  void aLargeHelloBehindAProxyHeaderIsRoutedAndTheBackendGetsTheHelloOnly() throws Exception {
    String[] protocols = new String[40];
    for (int k = 0; k < protocols.length; k++) {
      protocols[k] = "protocol-" + k + "-" + "p".repeat(180);
    }
    byte[] hello = Hellos.jdk("api.example.com", protocols);
    assertThat(hello.length).isBetween(6_000, 16_000); // past the first buffer, within the limit
    byte[] header =
        "PROXY TCP4 198.51.100.7 192.0.2.1 40000 443\r\n".getBytes(StandardCharsets.US_ASCII);
    byte[] both = Arrays.copyOf(header, header.length + hello.length);
    System.arraycopy(hello, 0, both, header.length, hello.length);
    TcpProxy proxy =
        start(
            TcpProxy.builder()
                .listen("127.0.0.1", 0)
                .proxyProtocolIn()
                .sniRoute("api.example.com", pool("api", hello.length))
                .cluster(pool("default", hello.length)));
    assertThat(send(proxy, both, 1000)).isEqualTo("api");
    assertThat(received.get("api")).isEqualTo(hello);
    proxy.awaitIdle(Duration.ofSeconds(10));
    assertThat(proxy.journal().entries(TcpEvent.Opened.class).get(0).client().getHostString())
        .isEqualTo("198.51.100.7");
  }

  @Test
  void noServerNameOrNoTlsGoesToTheDefaultUnlessClosing() throws Exception {
    byte[] plain = "PING\r\n".getBytes(StandardCharsets.US_ASCII);
    TcpProxy open = sniProxy(plain.length, false);
    assertThat(send(open, plain, plain.length)).isEqualTo("default");
    assertThat(received.get("default")).isEqualTo(plain);
    byte[] nameless = Hellos.jdk(null);
    TcpProxy closing = sniProxy(nameless.length, true);
    assertThat(send(closing, nameless, nameless.length)).isEmpty(); // closed, nothing forwarded
    assertThat(send(closing, plain, plain.length)).isEmpty();
    closing.awaitIdle(Duration.ofSeconds(10));
    TcpProxyStats.Hellos h = closing.stats().hellos();
    assertThat(h.noServerName()).isEqualTo(1);
    assertThat(h.notTls()).isEqualTo(1);
    assertThat(h.defaulted()).isZero();
    assertThat(closing.journal().entries(TcpEvent.Closed.class))
        .extracting(TcpEvent.Closed::cause)
        .containsExactly("client hello: no server name", "client hello: not TLS");
  }

  @Test
  void aHelloOverTheSizeLimitOrTooLateIsClosedAndCounted() throws Exception {
    TcpProxy proxy =
        start(
            TcpProxy.builder()
                .listen("127.0.0.1", 0)
                .sniRoute("api.example.com", pool("api", 1))
                .cluster(pool("default", 1))
                .maxHelloSize(512)
                .handshakeTimeout(Duration.ofMillis(300)));
    byte[] big = Hellos.jdk("api.example.com", "h2", "http/1.1", "x".repeat(200), "y".repeat(200));
    assertThat(big.length).isGreaterThan(512);
    assertThat(send(proxy, big, big.length)).isEmpty();
    Socket slow = connect(proxy);
    slow.getOutputStream().write(Hellos.jdk("api.example.com"), 0, 20); // and then nothing
    long started = System.nanoTime();
    assertThat(slow.getInputStream().read()).isEqualTo(-1);
    long waited = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started);
    assertThat(waited).isBetween(150L, 5_000L);
    proxy.awaitIdle(Duration.ofSeconds(10));
    assertThat(proxy.stats().hellos().tooLarge()).isEqualTo(1);
    assertThat(proxy.stats().hellos().timeouts()).isEqualTo(1);
    assertThat(received).isEmpty();
  }

  @Test
  void fuzzedHellosEndEveryConnectionAndTheProxyKeepsRouting() throws Exception {
    byte[] good = Hellos.jdk("api.example.com");
    TcpProxy proxy =
        start(
            TcpProxy.builder()
                .listen("127.0.0.1", 0)
                .sniRoute("api.example.com", pool("api", good.length))
                .cluster(
                    resources.track(
                        Cluster.of("default", backend(resources.track(EchoServer.start())))))
                .closeWithoutServerName(true)
                .handshakeTimeout(Duration.ofMillis(500)));
    Random random = new Random(11);
    int connections = 300;
    for (int i = 0; i < connections; i++) {
      byte[] b = ClientHelloTest.mutate(good, random);
      Socket s = connect(proxy);
      s.getOutputStream().write(b);
      s.shutdownOutput(); // a truncated hello meets the end of stream, not only the deadline
      InputStream in = s.getInputStream();
      in.readAllBytes(); // whatever the verdict, the connection ends
      s.close();
    }
    proxy.awaitIdle(Duration.ofSeconds(20));
    TcpProxyStats.Hellos h = proxy.stats().hellos();
    assertThat(
            h.routed()
                + h.defaulted()
                + h.notTls()
                + h.noServerName()
                + h.invalid()
                + h.tooLarge()
                + h.timeouts())
        .as("%s", h)
        .isGreaterThanOrEqualTo(connections);
    assertThat(proxy.stats().accepted()).isEqualTo(connections);
    assertThat(send(proxy, good, good.length)).isEqualTo("api"); // still serving
    Await.until(
        "all journaled", () -> proxy.journal().entries(TcpEvent.Closed.class).size() > connections);
    assertThat(proxy.journal().entries(TcpEvent.Closed.class)).hasSize(connections + 1);
  }

  @Test
  void badPatternsAreRefusedNamingTheSetting() {
    Cluster c = resources.track(Cluster.of("x", backend(echo())));
    for (String bad : List.of("", "*.", "a..b", "a/b", "*.*.x")) {
      assertThatThrownBy(() -> TcpProxy.builder().sniRoute(bad, c))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageStartingWith("sniRoute: '" + bad + "'");
    }
  }
}
