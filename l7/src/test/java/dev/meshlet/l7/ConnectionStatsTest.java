package dev.meshlet.l7;

import static org.assertj.core.api.Assertions.assertThat;

import dev.meshlet.core.Cluster;
import dev.meshlet.core.ServerTls;
import dev.meshlet.core.TlsIdentity;
import dev.meshlet.testkit.Await;
import dev.meshlet.testkit.NoLeakedThreads;
import dev.meshlet.testpki.TestPki;
import java.io.IOException;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLSocket;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

/** {@link HttpProxyStats#connections()}: client connections, once each, never per request. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
@ExtendWith(NoLeakedThreads.class)
class ConnectionStatsTest {
  private static final TestPki PKI = TestPki.create();
  private static TestBackend backend;

  @BeforeAll
  static void startBackend() throws Exception {
    backend = TestBackend.named("app");
  }

  @AfterAll
  static void stopBackend() throws Exception {
    backend.close();
  }

  private static HttpProxyBuilder proxy() {
    return HttpProxy.builder()
        .listen("127.0.0.1", 0)
        .defaultRoute(Cluster.of("app", backend.backend()));
  }

  private static int get(Socket s) throws IOException {
    s.getOutputStream()
        .write("GET / HTTP/1.1\r\nHost: a\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
    s.getOutputStream().flush();
    return Raw.parse(Raw.readResponses(s.getInputStream(), 1)).status();
  }

  @Test
  void threeKeepAliveConnectionsAreThreeActiveThenNone() throws Exception {
    try (HttpProxy proxy = proxy().start()) {
      assertThat(proxy.stats().connections()).isEqualTo(new HttpProxyStats.Connections(0, 0, 0));
      List<Socket> clients = new ArrayList<>();
      try {
        for (int i = 0; i < 3; i++) {
          Socket s = new Socket("127.0.0.1", proxy.port());
          s.setSoTimeout(20_000);
          clients.add(s);
          // two requests on each: a connection counts once, however many requests it carries
          assertThat(get(s)).isEqualTo(200);
          assertThat(get(s)).isEqualTo(200);
        }
        // the proxy's own connections to the backend are not client connections
        assertThat(proxy.stats().connections()).isEqualTo(new HttpProxyStats.Connections(3, 3, 0));
        assertThat(proxy.stats().total().requests()).isEqualTo(6);
      } finally {
        for (Socket s : clients) {
          s.close();
        }
      }
      HttpProxyStats.Connections after =
          Await.value(
              "the three connections closed",
              () -> proxy.stats().connections(),
              c -> c.active() == 0);
      assertThat(after).isEqualTo(new HttpProxyStats.Connections(3, 0, 3));
    }
  }

  @Test
  void aTlsConnectionCountsOnceNotPerLayer() throws Exception {
    TestPki.Leaf leaf = PKI.leaf("localhost");
    try (HttpProxy proxy =
        proxy().tls(ServerTls.of(TlsIdentity.of(leaf.privateKey(), leaf.chain()))).start()) {
      try (SSLSocket a = TlsClients.connect(PKI.sslContext(), proxy.port(), "localhost");
          SSLSocket b = TlsClients.connect(PKI.sslContext(), proxy.port(), "localhost")) {
        assertThat(TlsClients.get(a, "localhost", "/").status()).isEqualTo(200);
        assertThat(TlsClients.get(b, "localhost", "/").status()).isEqualTo(200);
        assertThat(proxy.stats().connections()).isEqualTo(new HttpProxyStats.Connections(2, 2, 0));
      }
      assertThat(
              Await.value(
                  "the TLS connections closed",
                  () -> proxy.stats().connections(),
                  c -> c.active() == 0))
          .isEqualTo(new HttpProxyStats.Connections(2, 0, 2));
    }
  }

  @Test
  void aConnectionTheServerClosesIsCountedClosed() throws Exception {
    try (HttpProxy proxy = proxy().start()) {
      Raw.Reply r =
          Raw.exchange(proxy.port(), "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
      assertThat(r.status()).isEqualTo(200);
      assertThat(
              Await.value(
                  "the closed connection counted",
                  () -> proxy.stats().connections(),
                  c -> c.closed() == 1))
          .isEqualTo(new HttpProxyStats.Connections(1, 0, 1));
    }
  }
}
