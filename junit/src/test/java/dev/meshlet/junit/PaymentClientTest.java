package dev.meshlet.junit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.meshlet.core.Backend;
import dev.meshlet.l4.TcpEvent;
import dev.meshlet.l4.TcpProxy;
import dev.meshlet.l4.Toxic;
import dev.meshlet.testkit.EchoServer;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.Socket;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AutoClose;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The extension as a user would write it: a client with a deadline, a backend, and a proxy between
 * them whose faults each test sets.
 */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class PaymentClientTest {
  @AutoClose static final EchoServer payments = EchoServer.start();

  @RegisterExtension
  static final TcpProxyExtension proxy =
      TcpProxyExtension.create(
          () ->
              TcpProxy.builder()
                  .listen("127.0.0.1", 0)
                  .backends(Backend.of("127.0.0.1", payments.port()))
                  .seed(2024));

  /** The code under test: sends a line and waits for the reply, at most {@code deadline}. */
  static String pay(int port, String what, Duration deadline) throws IOException {
    try (Socket s = new Socket(InetAddress.getLoopbackAddress(), port)) {
      s.setSoTimeout((int) deadline.toMillis());
      s.getOutputStream().write((what + "\n").getBytes(StandardCharsets.US_ASCII));
      InputStream in = s.getInputStream();
      StringBuilder reply = new StringBuilder();
      for (int c; (c = in.read()) != '\n'; ) {
        if (c == -1) {
          throw new SocketException("payment service closed the connection");
        }
        reply.append((char) c);
      }
      return reply.toString();
    }
  }

  @Test
  @Order(1)
  void paysThroughTheProxy(@MeshletProxy int port, TcpProxy injected) throws Exception {
    assertThat(pay(port, "10 EUR", Duration.ofSeconds(5))).isEqualTo("10 EUR");
    assertThat(injected.port()).isEqualTo(port).isEqualTo(proxy.port());
    proxy.proxy().awaitIdle(Duration.ofSeconds(5));
    assertThat(proxy.journal().entries(TcpEvent.Closed.class)).hasSize(1);
  }

  @Test
  @Order(2)
  void givesUpWhenThePaymentServiceIsSlow(@MeshletProxy int port) {
    proxy.toxics().add("slow-payments", Toxic.latency(Duration.ofMillis(500)).downstream());
    proxy.proxy().disable();
    proxy.proxy().enable();
    assertThatThrownBy(() -> pay(port, "10 EUR", Duration.ofMillis(200)))
        .isInstanceOf(SocketTimeoutException.class);
    // the reply is still in the toxic's delay line: let the connection end here, not in the next
    // test
    proxy.proxy().awaitIdle(Duration.ofSeconds(5));
  }

  @Test
  @Order(3)
  void theToxicsOfAnEarlierTestAreGone(@MeshletProxy int port) throws Exception {
    assertThat(proxy.toxics().list()).isEmpty();
    assertThat(proxy.proxy().isEnabled()).isTrue();
    assertThat(proxy.journal().entries()).as("journal cleared between tests").isEmpty();
    assertThat(pay(port, "5 EUR", Duration.ofSeconds(5))).isEqualTo("5 EUR");
  }

  @Test
  @Order(4)
  void seesTheConnectionCutWhenThePaymentServiceGoesDown(@MeshletProxy int port) {
    proxy.proxy().disable();
    assertThatThrownBy(() -> pay(port, "10 EUR", Duration.ofSeconds(5)))
        .isInstanceOf(SocketException.class);
  }

  @Test
  @Order(5)
  void aResetMidStreamIsSeenByTheClient(@MeshletProxy int port) {
    proxy.toxics().add("rst", Toxic.resetPeer(Duration.ZERO).upstream());
    assertThatThrownBy(() -> pay(port, "10 EUR", Duration.ofSeconds(5)))
        .isInstanceOf(SocketException.class)
        .hasMessageContaining("reset");
  }
}
