package dev.meshlet.l7;

import static org.assertj.core.api.Assertions.assertThat;

import dev.meshlet.core.Cluster;
import dev.meshlet.core.ServerTls;
import dev.meshlet.core.TlsIdentity;
import dev.meshlet.testkit.NoLeakedThreads;
import dev.meshlet.testpki.TestPki;
import java.net.Socket;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLSocket;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

/** A TLS client connection lives as long as it sends requests, past the request-head timeout. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
@ExtendWith(NoLeakedThreads.class)
class TlsKeepAliveTest {
  private static final TestPki PKI = TestPki.create();

  @Test
  void aBusyTlsConnectionOutlivesTheRequestHeadTimeout() throws Exception {
    TestPki.Leaf leaf = PKI.leaf("localhost");
    try (TestBackend backend = TestBackend.named("app");
        HttpProxy proxy =
            HttpProxy.builder()
                .listen("127.0.0.1", 0)
                .tls(ServerTls.of(TlsIdentity.of(leaf.privateKey(), leaf.chain())))
                .requestHeadTimeout(Duration.ofMillis(300))
                .defaultRoute(Cluster.of("app", backend.backend()))
                .start();
        SSLSocket s = TlsClients.connect(PKI.sslContext(), proxy.port(), "localhost")) {
      // requests back to back for four times the head timeout: the deadline is the HTTP
      // connection's, restarted by each response, not the TLS layer's, which never sees a head
      long end = System.nanoTime() + Duration.ofMillis(1200).toNanos();
      int requests = 0;
      while (System.nanoTime() - end < 0) {
        assertThat(TlsClients.get(s, "localhost", "/").status()).isEqualTo(200);
        requests++;
      }
      assertThat(requests).isGreaterThan(1);
      assertThat(proxy.stats().total().errors(HttpProxyStats.ErrorKind.REQUEST_TIMEOUT)).isZero();
      assertThat(proxy.stats().connections().accepted()).isEqualTo(1);
    }
  }

  @Test
  void aTlsHandshakeThatStallsIsClosedAtTheRequestHeadTimeout() throws Exception {
    TestPki.Leaf leaf = PKI.leaf("localhost");
    try (TestBackend backend = TestBackend.named("app");
        HttpProxy proxy =
            HttpProxy.builder()
                .listen("127.0.0.1", 0)
                .tls(ServerTls.of(TlsIdentity.of(leaf.privateKey(), leaf.chain())))
                .requestHeadTimeout(Duration.ofMillis(300))
                .defaultRoute(Cluster.of("app", backend.backend()))
                .start();
        Socket s = new Socket("127.0.0.1", proxy.port())) {
      s.setSoTimeout(10_000);
      // the first bytes of a TLS record header, then nothing
      s.getOutputStream().write(new byte[] {0x16, 0x03, 0x01});
      long start = System.nanoTime();
      // closed, with at most a TLS alert record (content type 21) before the end
      byte[] got = s.getInputStream().readAllBytes();
      assertThat(got.length == 0 || got[0] == 21).as("only an alert before the close").isTrue();
      assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofSeconds(5));
    }
  }
}
