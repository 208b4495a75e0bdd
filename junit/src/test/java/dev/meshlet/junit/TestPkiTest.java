package dev.meshlet.junit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.meshlet.core.PeerIdentity;
import dev.meshlet.core.TlsIdentity;
import dev.meshlet.core.TlsTrust;
import dev.meshlet.testpki.TestPki;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLHandshakeException;
import javax.net.ssl.SSLServerSocket;
import javax.net.ssl.SSLSocket;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

@Timeout(value = 60, unit = TimeUnit.SECONDS)
class TestPkiTest {
  private static final TestPki PKI = TestPki.create();

  @TempDir Path dir;

  @Test
  void pemFilesReadBackAsMeshletValues() {
    TestPki.Leaf leaf = PKI.leaf("localhost");
    TestPki.Pem pem = leaf.writePem(dir);
    TlsIdentity id = TlsIdentity.pem(pem.chain(), pem.key());
    assertThat(id.leaf()).isEqualTo(leaf.certificate());
    assertThat(id).isEqualTo(TlsIdentity.of(leaf.privateKey(), leaf.chain()));
    assertThat(TlsTrust.pem(PKI.caPem(dir))).isEqualTo(TlsTrust.of(PKI.caCertificate()));
    assertThat(PeerIdentity.from(leaf.certificate()).ipAddresses()).containsExactly("127.0.0.1");
  }

  @Test
  void spiffeLeafCarriesItsUri() {
    PeerIdentity p =
        PeerIdentity.from(PKI.spiffe("spiffe://cluster.local/ns/default/sa/web").certificate());
    assertThat(p.spiffeId()).isEqualTo("spiffe://cluster.local/ns/default/sa/web");
  }

  @Test
  void clientContextTrustsLeavesOfItsCaOnly() throws Exception {
    assertThat(handshake(PKI.leaf("localhost"), PKI.sslContext())).isEqualTo("ok");
    assertThatThrownBy(() -> handshake(PKI.expired("localhost"), PKI.sslContext()))
        .isInstanceOf(SSLHandshakeException.class);
    TestPki other = TestPki.create("other CA");
    assertThatThrownBy(() -> handshake(other.leaf("localhost"), PKI.sslContext()))
        .isInstanceOf(SSLHandshakeException.class);
  }

  @Test
  void wrongHostLeafFailsHostnameVerification() {
    assertThatThrownBy(() -> handshake(PKI.wrongHost(), PKI.sslContext()))
        .isInstanceOf(SSLHandshakeException.class)
        .hasStackTraceContaining("No subject alternative DNS name matching localhost");
  }

  /** A handshake against a server showing {@code server}, with hostname verification on. */
  private static String handshake(TestPki.Leaf server, SSLContext client) throws Exception {
    InetAddress lo = InetAddress.getLoopbackAddress();
    try (SSLServerSocket ss =
        (SSLServerSocket)
            server.serverContext().getServerSocketFactory().createServerSocket(0, 5, lo)) {
      CompletableFuture<Void> served =
          CompletableFuture.runAsync(
              () -> {
                try (SSLSocket s = (SSLSocket) ss.accept();
                    OutputStream out = s.getOutputStream()) {
                  out.write("ok".getBytes());
                } catch (Exception e) {
                  // the client's refusal ends the handshake here too
                }
              });
      try (SSLSocket s =
          (SSLSocket) client.getSocketFactory().createSocket(lo, ss.getLocalPort())) {
        var params = s.getSSLParameters();
        params.setEndpointIdentificationAlgorithm("HTTPS");
        s.setSSLParameters(params);
        s.startHandshake();
        try (InputStream in = s.getInputStream()) {
          return new String(in.readAllBytes());
        }
      } finally {
        served.join();
      }
    }
  }
}
