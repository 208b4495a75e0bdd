package dev.meshlet.l7;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assumptions.assumeThat;

import dev.meshlet.core.Backend;
import dev.meshlet.core.Balancer;
import dev.meshlet.core.Cluster;
import dev.meshlet.core.ServerTls;
import dev.meshlet.core.TlsIdentity;
import dev.meshlet.l4.ProxyProtocol;
import dev.meshlet.l4.TcpProxy;
import dev.meshlet.testkit.Await;
import dev.meshlet.testkit.Haproxy;
import dev.meshlet.testkit.Resources;
import dev.meshlet.testpki.TestPki;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.HashSet;
import java.util.Set;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLSocket;
import org.junit.jupiter.api.AutoClose;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The PROXY protocol on the HTTP proxy: accepted from raw sockets, from a TCP proxy and from
 * HAProxy (X-Forwarded-For carries the header's address), and sent to backends.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class ProxyProtocolTest {
  private static final String GET =
      "GET /pp HTTP/1.1\r\nHost: pp.test\r\nConnection: close\r\n\r\n";

  @AutoClose final Resources resources = new Resources();

  TestBackend backend() throws Exception {
    return resources.track(TestBackend.named("pp"));
  }

  HttpProxy accepting(TestBackend backend) throws IOException {
    return resources.track(
        HttpProxy.builder()
            .listen("127.0.0.1", 0)
            .defaultRoute(resources.track(Cluster.of("pp", backend.backend())))
            .proxyProtocolIn()
            .start());
  }

  @Test
  void xForwardedForCarriesTheAddressOfAV1OrV2Header() throws Exception {
    TestBackend backend = backend();
    HttpProxy proxy = accepting(backend);
    Raw.Reply v1 =
        Raw.exchange(proxy.port(), "PROXY TCP4 203.0.113.9 192.0.2.1 40000 80\r\n" + GET);
    assertThat(v1.status()).as(v1.raw()).isEqualTo(200);
    assertThat(backend.last().header("X-Forwarded-For")).isEqualTo("203.0.113.9");
    String v2 =
        new String(
            new byte[] {
              0x0D,
              0x0A,
              0x0D,
              0x0A,
              0x00,
              0x0D,
              0x0A,
              0x51,
              0x55,
              0x49,
              0x54,
              0x0A,
              0x21,
              0x11,
              0,
              12,
              (byte) 198,
              51,
              100,
              42,
              (byte) 192,
              0,
              2,
              1,
              (byte) 0x9C,
              0x41,
              0,
              80
            },
            StandardCharsets.ISO_8859_1);
    Raw.Reply r2 = Raw.exchange(proxy.port(), v2 + GET);
    assertThat(r2.status()).as(r2.raw()).isEqualTo(200);
    assertThat(backend.last().header("X-Forwarded-For")).isEqualTo("198.51.100.42");
  }

  @Test
  void aConnectionWithoutAHeaderIsClosedCountedAndNothingForwarded() throws Exception {
    TestBackend backend = backend();
    HttpProxy proxy = accepting(backend);
    Raw.Reply r = Raw.exchange(proxy.port(), GET);
    assertThat(r.raw()).isEmpty(); // closed: Jetty's default would have served it as plain HTTP
    Await.until(
        "counted", () -> proxy.stats().total().errors(HttpProxyStats.ErrorKind.PROXY_HEADER) == 1);
    assertThat(backend.requests).isEmpty();
  }

  @Test
  void aHeaderThatDoesNotArriveInTimeClosesTheConnection() throws Exception {
    TestBackend backend = backend();
    HttpProxy proxy =
        resources.track(
            HttpProxy.builder()
                .listen("127.0.0.1", 0)
                .defaultRoute(resources.track(Cluster.of("pp", backend.backend())))
                .proxyProtocolIn()
                .requestHeadTimeout(Duration.ofMillis(300))
                .start());
    try (Socket s = new Socket(InetAddress.getLoopbackAddress(), proxy.port())) {
      s.setSoTimeout(10_000);
      s.getOutputStream().write("PROXY TCP4 ".getBytes(StandardCharsets.US_ASCII));
      long started = System.nanoTime();
      Raw.readAll(s.getInputStream()); // whatever is written, the connection ends
      assertThat(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started))
          .isBetween(200L, 5_000L);
    }
    assertThat(backend.requests).isEmpty();
  }

  @Test
  void aConnectionFromAnAddressThatIsNoTrustedFrontIsClosed() throws Exception {
    TestBackend backend = backend();
    HttpProxy picky =
        resources.track(
            HttpProxy.builder()
                .listen("127.0.0.1", 0)
                .defaultRoute(resources.track(Cluster.of("pp", backend.backend())))
                .proxyProtocolIn("192.0.2.0/24")
                .start());
    Raw.Reply r = Raw.exchange(picky.port(), "PROXY TCP4 203.0.113.9 192.0.2.1 40000 80\r\n" + GET);
    assertThat(r.raw()).isEmpty();
    Await.until(
        "counted", () -> picky.stats().total().errors(HttpProxyStats.ErrorKind.PROXY_HEADER) == 1);
    HttpProxy trusting =
        resources.track(
            HttpProxy.builder()
                .listen("127.0.0.1", 0)
                .defaultRoute(resources.track(Cluster.of("pp2", backend.backend())))
                .proxyProtocolIn("127.0.0.0/8")
                .start());
    Raw.Reply ok =
        Raw.exchange(trusting.port(), "PROXY TCP4 203.0.113.9 192.0.2.1 40000 80\r\n" + GET);
    assertThat(ok.status()).as(ok.raw()).isEqualTo(200);
    assertThat(backend.requests).hasSize(1);
    assertThatThrownBy(() -> HttpProxy.builder().proxyProtocolIn("10.0.0.0/33"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageStartingWith("proxyProtocolIn: '10.0.0.0/33'");
  }

  @Test
  void consistentHashingKeysOnTheAddressInTheHeader() throws Exception {
    Cluster.Builder pool = Cluster.builder("hashed").balancer(Balancer.consistentHash());
    for (int i = 0; i < 3; i++) {
      pool.backends(resources.track(TestBackend.named("b" + i)).backend());
    }
    HttpProxy proxy =
        resources.track(
            HttpProxy.builder()
                .listen("127.0.0.1", 0)
                .defaultRoute(resources.track(pool.build()))
                .proxyProtocolIn()
                .start());
    Set<String> chosen = new HashSet<>();
    for (int ip = 1; ip <= 12; ip++) {
      String header = "PROXY TCP4 198.51.100." + ip + " 192.0.2.1 " + (40000 + ip) + " 80\r\n";
      Raw.Reply first = Raw.exchange(proxy.port(), header + GET);
      Raw.Reply again = Raw.exchange(proxy.port(), header.replace(" 80\r", " 8080\r") + GET);
      assertThat(again.body()).as("the same address, another connection").isEqualTo(first.body());
      chosen.add(first.body());
    }
    assertThat(chosen).as("a hash of the header's address, not of 127.0.0.1").hasSizeGreaterThan(1);
  }

  @Test
  void aHeaderComesBeforeTheTlsHandshakeOnATlsListener() throws Exception {
    TestPki pki = TestPki.create();
    TestPki.Leaf leaf = pki.leaf("localhost");
    TestBackend backend = backend();
    HttpProxy proxy =
        resources.track(
            HttpProxy.builder()
                .listen("127.0.0.1", 0)
                .defaultRoute(resources.track(Cluster.of("pp", backend.backend())))
                .tls(ServerTls.of(TlsIdentity.of(leaf.privateKey(), leaf.chain())))
                .proxyProtocolIn()
                .start());
    try (Socket raw = new Socket(InetAddress.getLoopbackAddress(), proxy.port())) {
      raw.setSoTimeout(10_000);
      raw.getOutputStream()
          .write(
              "PROXY TCP4 203.0.113.44 192.0.2.1 40000 443\r\n"
                  .getBytes(StandardCharsets.US_ASCII));
      SSLSocket tls =
          (SSLSocket)
              pki.sslContext()
                  .getSocketFactory()
                  .createSocket(raw, "localhost", proxy.port(), false);
      tls.getOutputStream().write(GET.getBytes(StandardCharsets.US_ASCII));
      assertThat(Raw.readAll(tls.getInputStream())).startsWith("HTTP/1.1 200");
    }
    assertThat(backend.last().header("X-Forwarded-For")).isEqualTo("203.0.113.44");
    assertThat(backend.last().header("X-Forwarded-Proto")).isEqualTo("https");
  }

  @Test
  void theClientsAddressSurvivesATcpProxyInFront() throws Exception {
    TestBackend backend = backend();
    HttpProxy l7 = accepting(backend);
    TcpProxy l4 =
        resources.track(
            TcpProxy.builder()
                .listen("127.0.0.1", 0)
                .backends(Backend.of("127.0.0.1", l7.port()))
                .proxyProtocolIn()
                .proxyProtocolOut(ProxyProtocol.V2)
                .start());
    Raw.Reply r = Raw.exchange(l4.port(), "PROXY TCP4 198.51.100.23 192.0.2.1 40000 80\r\n" + GET);
    assertThat(r.status()).as(r.raw()).isEqualTo(200);
    assertThat(backend.last().header("X-Forwarded-For")).isEqualTo("198.51.100.23");
  }

  /** A backend that queues the PROXY v1 line its connection began with, then answers 200. */
  ServerSocket headerReadingBackend(BlockingQueue<String> lines) throws IOException {
    ServerSocket server =
        resources.track(new ServerSocket(0, 50, InetAddress.getLoopbackAddress()));
    Thread.ofVirtual()
        .start(
            () -> {
              while (!server.isClosed()) {
                try {
                  Socket s = server.accept();
                  Thread.ofVirtual().start(() -> answer(s, lines));
                } catch (IOException e) {
                  return;
                }
              }
            });
    return server;
  }

  private static void answer(Socket s, BlockingQueue<String> lines) {
    try (s) {
      InputStream in = s.getInputStream();
      lines.add(line(in));
      for (String l = line(in); !l.isEmpty(); l = line(in)) {
        // the request head
      }
      s.getOutputStream()
          .write(
              "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
                  .getBytes(StandardCharsets.US_ASCII));
    } catch (IOException ignored) {
      // the test asserts on the client's side
    }
  }

  private static String line(InputStream in) throws IOException {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    for (int c = in.read(); c != -1 && c != '\n'; c = in.read()) {
      if (c != '\r') {
        out.write(c);
      }
    }
    return out.toString(StandardCharsets.US_ASCII);
  }

  @Test
  void sendsEachBackendConnectionAHeaderNamingItsClient() throws Exception {
    BlockingQueue<String> lines = new LinkedBlockingQueue<>();
    ServerSocket backend = headerReadingBackend(lines);
    HttpProxy proxy =
        resources.track(
            HttpProxy.builder()
                .listen("127.0.0.1", 0)
                .defaultRoute(
                    resources.track(
                        Cluster.of("raw", Backend.of("127.0.0.1", backend.getLocalPort()))))
                .proxyProtocolOut(ProxyProtocol.V1)
                .start());
    for (int i = 0; i < 2; i++) {
      try (Socket client = new Socket(InetAddress.getLoopbackAddress(), proxy.port())) {
        client.setSoTimeout(10_000);
        client.getOutputStream().write(GET.getBytes(StandardCharsets.US_ASCII));
        assertThat(Raw.readAll(client.getInputStream())).startsWith("HTTP/1.1 200");
        assertThat(lines.poll(10, TimeUnit.SECONDS))
            .isEqualTo(
                "PROXY TCP4 127.0.0.1 127.0.0.1 " + client.getLocalPort() + " " + proxy.port());
      }
    }
  }

  @Test
  void anIpv6ClientIsNamedWithoutBrackets() throws Exception {
    BlockingQueue<String> lines = new LinkedBlockingQueue<>();
    ServerSocket backend = headerReadingBackend(lines);
    HttpProxy proxy =
        resources.track(
            HttpProxy.builder()
                .listen("::1", 0)
                .defaultRoute(
                    resources.track(
                        Cluster.of("raw6", Backend.of("127.0.0.1", backend.getLocalPort()))))
                .proxyProtocolOut(ProxyProtocol.V1)
                .start());
    try (Socket client = new Socket(InetAddress.getByName("::1"), proxy.port())) {
      client.setSoTimeout(10_000);
      client.getOutputStream().write(GET.getBytes(StandardCharsets.US_ASCII));
      assertThat(Raw.readAll(client.getInputStream())).startsWith("HTTP/1.1 200");
      assertThat(lines.poll(10, TimeUnit.SECONDS))
          .isEqualTo(
              "PROXY TCP6 0:0:0:0:0:0:0:1 0:0:0:0:0:0:0:1 "
                  + client.getLocalPort()
                  + " "
                  + proxy.port());
    }
  }

  @Test
  void haproxyInFrontSendsTheAddressXForwardedForCarries() throws Exception {
    assumeThat(Haproxy.installed()).as("haproxy on the PATH").isTrue();
    TestBackend backend = backend();
    HttpProxy proxy = accepting(backend);
    Haproxy front =
        resources.track(
            Haproxy.start(
                "",
                proxy.port(),
                "send-proxy-v2",
                "tcp-request connection set-src ipv4(203.0.113.77)"));
    Raw.Reply r = Raw.exchange(front.port(), GET);
    assertThat(r.status()).as(r.raw() + front.log()).isEqualTo(200);
    assertThat(backend.last().header("X-Forwarded-For")).isEqualTo("203.0.113.77");
  }

  @Test
  void haproxyBehindReadsTheV2HeaderTheProxySends() throws Exception {
    assumeThat(Haproxy.installed()).as("haproxy on the PATH").isTrue();
    BlockingQueue<String> lines = new LinkedBlockingQueue<>();
    ServerSocket backend = headerReadingBackend(lines);
    // meshlet (sends v2) -> HAProxy (accept-proxy; sends v1 on) -> the backend reading it
    Haproxy behind =
        resources.track(Haproxy.tcp("accept-proxy", backend.getLocalPort(), "send-proxy"));
    HttpProxy proxy =
        resources.track(
            HttpProxy.builder()
                .listen("127.0.0.1", 0)
                .defaultRoute(
                    resources.track(Cluster.of("hap", Backend.of("127.0.0.1", behind.port()))))
                .proxyProtocolOut(ProxyProtocol.V2)
                .start());
    try (Socket client = new Socket(InetAddress.getLoopbackAddress(), proxy.port())) {
      client.setSoTimeout(10_000);
      client.getOutputStream().write(GET.getBytes(StandardCharsets.US_ASCII));
      assertThat(Raw.readAll(client.getInputStream())).startsWith("HTTP/1.1 200");
      String expected = "PROXY TCP4 127.0.0.1 127.0.0.1 " + client.getLocalPort() + " ";
      String line;
      do { // HAProxy also forwarded the connection that probed whether it listened yet
        line = lines.poll(10, TimeUnit.SECONDS);
      } while (line != null && !line.startsWith(expected));
      assertThat(line).as(behind.log()).startsWith(expected);
    }
  }
}
