package dev.meshlet.l4;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assumptions.assumeThat;

import dev.meshlet.core.Backend;
import dev.meshlet.testkit.EchoServer;
import dev.meshlet.testkit.Haproxy;
import java.io.DataInputStream;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The PROXY protocol against HAProxy: HAProxy parses the headers the proxy sends, and sends the
 * headers the proxy accepts. Skipped where {@code haproxy} is not installed.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class HaproxyPeerTest extends TcpProxyTestSupport {
  final BlockingQueue<String> headers = new LinkedBlockingQueue<>();

  @BeforeEach
  void needsHaproxy() {
    assumeThat(Haproxy.installed()).as("haproxy on the PATH").isTrue();
  }

  EchoServer headerReader() {
    return resources.track(
        EchoServer.handling(
            s -> {
              headers.add(ProxyProtocolTest.readHeader(new DataInputStream(s.getInputStream())));
              s.getInputStream().transferTo(s.getOutputStream());
              s.shutdownOutput();
            }));
  }

  /**
   * The header naming {@code clientPort}: HAProxy also forwards the connection that probed whether
   * it listens yet.
   */
  String headerFrom(int clientPort) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    String h;
    while ((h = headers.poll(deadline - System.nanoTime(), TimeUnit.NANOSECONDS)) != null) {
      if (h.contains(" " + clientPort + " ")) {
        return h;
      }
    }
    return "no header from port " + clientPort + " within 10 s";
  }

  static String roundTrip(Socket s, String payload) throws IOException {
    s.getOutputStream().write(payload.getBytes(StandardCharsets.US_ASCII));
    s.shutdownOutput();
    return new String(s.getInputStream().readAllBytes(), StandardCharsets.US_ASCII);
  }

  @Test
  void haproxyReadsTheV1AndV2HeadersTheProxySends() throws Exception {
    for (ProxyProtocol version : ProxyProtocol.values()) {
      // client -> meshlet (sends a header) -> HAProxy (accept-proxy; sends v1 on) -> backend
      EchoServer backend = headerReader();
      Haproxy haproxy = resources.track(Haproxy.tcp("accept-proxy", backend.port(), "send-proxy"));
      TcpProxy proxy =
          start(
              TcpProxy.builder()
                  .listen("127.0.0.1", 0)
                  .backends(Backend.of("127.0.0.1", haproxy.port()))
                  .proxyProtocolOut(version));
      Socket client = connect(proxy);
      assertThat(roundTrip(client, "through haproxy")).isEqualTo("through haproxy");
      // HAProxy passes on the address it parsed from meshlet's header: the client's own
      assertThat(headerFrom(client.getLocalPort()))
          .as("%s, haproxy log: %s", version, haproxy.log())
          .isEqualTo(
              "PROXY TCP4 127.0.0.1 127.0.0.1 "
                  + client.getLocalPort()
                  + " "
                  + proxy.port()
                  + "\r\n");
    }
  }

  @Test
  void acceptsTheHeadersHaproxySends() throws Exception {
    for (String send : new String[] {"send-proxy", "send-proxy-v2"}) {
      // client -> HAProxy (sends a header) -> meshlet (accepts it; sends v1 on) -> backend
      EchoServer backend = headerReader();
      TcpProxy proxy =
          start(
              proxyTo()
                  .backends(backend(backend))
                  .proxyProtocolIn("127.0.0.1")
                  .proxyProtocolOut(ProxyProtocol.V1));
      Haproxy haproxy = resources.track(Haproxy.tcp("", proxy.port(), send));
      Socket client = resources.track(new Socket(LOOPBACK, haproxy.port()));
      client.setSoTimeout(10_000);
      assertThat(roundTrip(client, "from haproxy")).isEqualTo("from haproxy");
      assertThat(headerFrom(client.getLocalPort()))
          .as(send)
          .isEqualTo(
              "PROXY TCP4 127.0.0.1 127.0.0.1 "
                  + client.getLocalPort()
                  + " "
                  + haproxy.port()
                  + "\r\n");
      proxy.awaitIdle(Duration.ofSeconds(10));
      assertThat(proxy.journal().entries(TcpEvent.Opened.class))
          .extracting(TcpEvent.Opened::client)
          .contains(new InetSocketAddress("127.0.0.1", client.getLocalPort()));
      assertThat(proxy.stats().proxyHeaderRejected()).isZero();
    }
  }
}
