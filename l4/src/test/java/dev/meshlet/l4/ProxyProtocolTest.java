package dev.meshlet.l4;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.meshlet.core.Balancer;
import dev.meshlet.testkit.EchoServer;
import java.io.DataInputStream;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.Set;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The PROXY protocol on the TCP proxy without HAProxy: headers sent by raw sockets, and headers the
 * proxy sends read by a test backend that decodes them itself.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class ProxyProtocolTest extends TcpProxyTestSupport {
  /** The header each backend connection began with, as the backend decoded it. */
  final BlockingQueue<String> headers = new LinkedBlockingQueue<>();

  /**
   * A backend that reads a v1 line or a v2 header, queues it (v1 as text, v2 in hex), then echoes.
   */
  EchoServer headerReader() {
    return resources.track(
        EchoServer.handling(
            s -> {
              DataInputStream in = new DataInputStream(s.getInputStream());
              headers.add(readHeader(in));
              s.getInputStream().transferTo(s.getOutputStream());
              s.shutdownOutput();
            }));
  }

  static String readHeader(DataInputStream in) throws IOException {
    int first = in.read();
    if (first == 'P') {
      StringBuilder line = new StringBuilder("P");
      int c;
      while ((c = in.read()) != '\n' && c != -1) {
        line.append((char) c);
      }
      return line.append('\n').toString();
    }
    byte[] fixed = new byte[16];
    fixed[0] = (byte) first;
    in.readFully(fixed, 1, 15);
    byte[] body = new byte[((fixed[14] & 0xFF) << 8) | (fixed[15] & 0xFF)];
    in.readFully(body);
    return HexFormat.of().formatHex(fixed) + HexFormat.of().formatHex(body);
  }

  String roundTrip(Socket s, String payload) throws IOException {
    s.getOutputStream().write(payload.getBytes(StandardCharsets.US_ASCII));
    s.shutdownOutput();
    return new String(s.getInputStream().readAllBytes(), StandardCharsets.US_ASCII);
  }

  @Test
  void sendsAV1HeaderWithTheClientsAddressBeforeItsBytes() throws Exception {
    TcpProxy proxy =
        start(proxyTo().backends(backend(headerReader())).proxyProtocolOut(ProxyProtocol.V1));
    Socket client = connect(proxy);
    assertThat(roundTrip(client, "ping")).isEqualTo("ping");
    assertThat(headers.poll(10, TimeUnit.SECONDS))
        .isEqualTo(
            "PROXY TCP4 127.0.0.1 127.0.0.1 "
                + client.getLocalPort()
                + " "
                + proxy.port()
                + "\r\n");
  }

  @Test
  void sendsAV2HeaderWithTheClientsAddressBeforeItsBytes() throws Exception {
    TcpProxy proxy =
        start(proxyTo().backends(backend(headerReader())).proxyProtocolOut(ProxyProtocol.V2));
    Socket client = connect(proxy);
    assertThat(roundTrip(client, "ping")).isEqualTo("ping");
    assertThat(headers.poll(10, TimeUnit.SECONDS))
        .isEqualTo(
            "0d0a0d0a000d0a515549540a2111000c"
                + "7f000001"
                + "7f000001"
                + String.format("%04x%04x", client.getLocalPort(), proxy.port()));
  }

  @Test
  void acceptsAV1OrV2HeaderAndSendsItsAddressOn() throws Exception {
    TcpProxy proxy =
        start(
            proxyTo()
                .backends(backend(headerReader()))
                .proxyProtocolIn()
                .proxyProtocolOut(ProxyProtocol.V1));
    Socket v1 = connect(proxy);
    String header = "PROXY TCP4 203.0.113.7 198.51.100.1 40000 443\r\n";
    assertThat(roundTrip(v1, header + "after the header")).isEqualTo("after the header");
    assertThat(headers.poll(10, TimeUnit.SECONDS)).isEqualTo(header);
    Socket v2 = connect(proxy);
    v2.getOutputStream()
        .write(
            ProxyHeader.encode(
                ProxyProtocol.V2,
                new InetSocketAddress("2001:db8::7", 40001),
                new InetSocketAddress("2001:db8::1", 443)));
    assertThat(roundTrip(v2, "six")).isEqualTo("six");
    assertThat(headers.poll(10, TimeUnit.SECONDS))
        .isEqualTo("PROXY TCP6 2001:db8:0:0:0:0:0:7 2001:db8:0:0:0:0:0:1 40001 443\r\n");
    proxy.awaitIdle(Duration.ofSeconds(10));
    assertThat(proxy.journal().entries(TcpEvent.Opened.class))
        .extracting(TcpEvent.Opened::client)
        .containsExactly(
            new InetSocketAddress("203.0.113.7", 40000),
            new InetSocketAddress("2001:db8::7", 40001));
    assertThat(proxy.stats().proxyHeaderRejected()).isZero();
  }

  @Test
  void aConnectionWithoutAValidHeaderIsClosedCountedAndNothingForwarded() throws Exception {
    EchoServer backend = echo();
    TcpProxy proxy = start(proxyTo(backend).proxyProtocolIn());
    for (String bad :
        new String[] {
          "GET / HTTP/1.1\r\n\r\n", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", "PROXY HELLO\r\n"
        }) {
      Socket s = connect(proxy);
      assertThat(roundTrip(s, bad)).as(bad).isEmpty();
    }
    proxy.awaitIdle(Duration.ofSeconds(10));
    assertThat(proxy.stats().proxyHeaderRejected()).isEqualTo(3);
    assertThat(backend.accepted()).isZero();
    assertThat(proxy.journal().entries(TcpEvent.Closed.class))
        .extracting(TcpEvent.Closed::cause)
        .allMatch(c -> c.startsWith("proxy header: "));
  }

  @Test
  void aHeaderNotWholeInTimeOrFromAnUntrustedAddressIsClosed() throws Exception {
    EchoServer backend = echo();
    TcpProxy slow =
        start(proxyTo(backend).proxyProtocolIn().handshakeTimeout(Duration.ofMillis(300)));
    Socket s = connect(slow);
    s.getOutputStream().write("PROXY TCP4 ".getBytes(StandardCharsets.US_ASCII));
    long started = System.nanoTime();
    assertThat(s.getInputStream().read()).isEqualTo(-1);
    assertThat(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started)).isBetween(150L, 5_000L);
    TcpProxy picky = start(proxyTo(backend).proxyProtocolIn("192.0.2.0/24", "2001:db8::/32"));
    Socket stranger = connect(picky);
    assertThat(roundTrip(stranger, "PROXY TCP4 203.0.113.7 198.51.100.1 40000 443\r\nx")).isEmpty();
    slow.awaitIdle(Duration.ofSeconds(10));
    picky.awaitIdle(Duration.ofSeconds(10));
    assertThat(slow.stats().proxyHeaderRejected()).isEqualTo(1);
    assertThat(slow.journal().entries(TcpEvent.Closed.class).get(0).cause())
        .isEqualTo("proxy header: timed out (handshakeTimeout)");
    assertThat(picky.stats().proxyHeaderRejected()).isEqualTo(1);
    assertThat(picky.journal().entries(TcpEvent.Closed.class).get(0).cause())
        .isEqualTo("proxy header: 127.0.0.1 is no trusted front");
    assertThat(backend.accepted()).isZero();
    TcpProxy trusting = start(proxyTo(backend).proxyProtocolIn("127.0.0.0/8"));
    assertThat(roundTrip(connect(trusting), "PROXY UNKNOWN\r\nok")).isEqualTo("ok");
  }

  @Test
  void consistentHashingKeysOnTheAddressInTheHeader() throws Exception {
    EchoServer[] backends = new EchoServer[3];
    for (int i = 0; i < 3; i++) {
      String name = "b" + i;
      backends[i] =
          resources.track(
              EchoServer.handling(
                  s -> {
                    s.getOutputStream().write(name.getBytes(StandardCharsets.US_ASCII));
                    s.shutdownOutput();
                    s.getInputStream().readAllBytes();
                  }));
    }
    TcpProxy proxy = start(proxyTo(backends).balancer(Balancer.consistentHash()).proxyProtocolIn());
    Set<String> chosen = new HashSet<>();
    for (int ip = 1; ip <= 12; ip++) {
      String header = "PROXY TCP4 198.51.100." + ip + " 192.0.2.1 " + (40000 + ip) + " 443\r\n";
      String first = roundTrip(connect(proxy), header);
      String second = roundTrip(connect(proxy), header.replace(" 443", " 8443"));
      assertThat(second).as("the same client address, another connection").isEqualTo(first);
      chosen.add(first);
    }
    assertThat(chosen).as("a hash of the header's address, not of 127.0.0.1").hasSizeGreaterThan(1);
  }

  @Test
  void badTrustedFrontsAreRefusedNamingTheSetting() {
    assertThatThrownBy(() -> TcpProxy.builder().proxyProtocolIn("10.0.0.0/33"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageStartingWith("proxyProtocolIn: '10.0.0.0/33' (expected: an IP address or block");
    assertThatThrownBy(() -> TcpProxy.builder().proxyProtocolIn("example.com"))
        .isInstanceOf(IllegalArgumentException.class);
  }
}
