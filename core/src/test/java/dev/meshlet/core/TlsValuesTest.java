package dev.meshlet.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.meshlet.core.internal.TlsContexts;
import dev.meshlet.testpki.TestPki;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.cert.X509Certificate;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SNIHostName;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLHandshakeException;
import javax.net.ssl.SSLServerSocket;
import javax.net.ssl.SSLSocket;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

@Timeout(value = 60, unit = TimeUnit.SECONDS)
class TlsValuesTest {
  private static final TestPki PKI = TestPki.create();

  @TempDir Path dir;

  @Test
  void pemIdentityReadsChainAndKeyAndNeverPrintsTheKey() {
    TestPki.Pem pem = PKI.leaf("web.local").writePem(dir);
    TlsIdentity id = TlsIdentity.pem(pem.chain(), pem.key());
    assertThat(id.chain()).hasSize(2);
    assertThat(id.leaf().getSubjectX500Principal().getName()).isEqualTo("CN=web.local");
    assertThat(id.files()).containsExactly(pem.chain(), pem.key());
    String encodedKey = java.util.Base64.getEncoder().encodeToString(id.privateKey().getEncoded());
    assertThat(id.toString()).contains("CN=web.local", "DNS:web.local").doesNotContain(encodedKey);
    assertThat(id.toString()).doesNotContain(id.privateKey().toString());
  }

  @Test
  void keyOfAnotherCertificateIsRejectedNamingBothFiles() {
    TestPki.Pem a = PKI.leaf("a.local").writePem(dir);
    TestPki.Pem b = PKI.leaf("b.local").writePem(dir);
    assertThatThrownBy(() -> TlsIdentity.pem(a.chain(), b.key()))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining(b.key().toString())
        .hasMessageContaining("does not match")
        .hasMessageContaining(a.chain().toString());
  }

  @Test
  void missingUnreadableAndEmptyFilesAreNamed() throws Exception {
    TestPki.Pem pem = PKI.leaf("web.local").writePem(dir);
    Path missing = dir.resolve("nope.pem");
    assertThatThrownBy(() -> TlsIdentity.pem(missing, pem.key()))
        .hasMessage("tls certificate " + missing + ": no such file");
    Path garbage = Files.writeString(dir.resolve("garbage.pem"), "not a pem\n");
    assertThatThrownBy(() -> TlsTrust.pem(garbage))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageStartingWith("tls trust " + garbage + ": no certificate");
    assertThatThrownBy(() -> TlsIdentity.pem(pem.chain(), garbage))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageStartingWith("tls key " + garbage + ": no private key");
    Path rsa1 =
        Files.writeString(
            dir.resolve("pkcs1.key"),
            "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n");
    assertThatThrownBy(() -> TlsIdentity.pem(pem.chain(), rsa1))
        .hasMessageContaining("openssl pkcs8 -topk8 -nocrypt");
    Path corrupt =
        Files.writeString(
            dir.resolve("corrupt.key"),
            "-----BEGIN PRIVATE KEY-----\nAAAAAAAA\n-----END PRIVATE KEY-----\n");
    assertThatThrownBy(() -> TlsIdentity.pem(pem.chain(), corrupt))
        .hasMessage("tls key " + corrupt + ": not an RSA, EC, Ed25519 or Ed448 PKCS#8 private key");
  }

  @Test
  void keyStoresOfBothTypesAreReadByContent() {
    TestPki.Leaf leaf = PKI.leaf("store.local");
    char[] pw = "secret".toCharArray();
    for (String type : List.of("PKCS12", "JKS")) {
      Path file = leaf.writeKeyStore(dir.resolve("store." + type), type, pw);
      TlsIdentity id = TlsIdentity.keyStore(file, pw);
      assertThat(id.leaf()).isEqualTo(leaf.certificate());
      assertThat(id.reload()).isEqualTo(id);
    }
    Path p12 = dir.resolve("store.PKCS12");
    assertThatThrownBy(() -> TlsIdentity.keyStore(p12, "wrong".toCharArray()))
        .hasMessageContaining("tls keystore " + p12)
        .hasMessageContaining("wrong password")
        .hasMessageNotContaining("secret");
  }

  @Test
  void trustFromPemAndFromCertificates() {
    Path ca = PKI.caPem(dir);
    assertThat(TlsTrust.pem(ca).certificates()).containsExactly(PKI.caCertificate());
    assertThat(TlsTrust.of(PKI.caCertificate())).isEqualTo(TlsTrust.pem(ca));
    assertThat(TlsTrust.system().isSystem()).isTrue();
    assertThatThrownBy(() -> TlsTrust.of(List.<X509Certificate>of()))
        .hasMessageContaining("no certificate");
  }

  @Test
  void peerIdentityReadsSpiffeIdAndNames() {
    X509Certificate cert =
        PKI.spiffe("spiffe://cluster.local/ns/default/sa/web", "web.default").certificate();
    PeerIdentity p = PeerIdentity.from(cert);
    assertThat(p.spiffeId()).isEqualTo("spiffe://cluster.local/ns/default/sa/web");
    assertThat(p.dnsNames()).containsExactly("web.default");
    assertThat(p.ipAddresses()).containsExactly("127.0.0.1");
    assertThat(p.matches("spiffe://cluster.local/ns/default/sa/web")).isTrue();
    assertThat(p.matches("spiffe://cluster.local/ns/default/sa/db")).isFalse();
    assertThat(PeerIdentity.from(PKI.leaf("plain").certificate()).spiffeId()).isNull();
  }

  @Test
  void serverTlsRejectsBadSniNamesAndProtocols() {
    TlsIdentity id = identity("x.local");
    assertThatThrownBy(() -> ServerTls.builder(id).sni("a.*.com", id))
        .hasMessageContaining("expected: a DNS name");
    assertThatThrownBy(() -> ServerTls.builder(id).sni("10.0.0.1", id))
        .hasMessageContaining("expected: a DNS name");
    assertThatThrownBy(() -> ServerTls.builder(id).sni("A.local", id).sni("a.local", id))
        .hasMessageContaining("given twice");
    assertThatThrownBy(() -> ServerTls.builder(id).protocols("TLSv1.1"))
        .hasMessageContaining("TLSv1.1 (expected: TLSv1.3 or TLSv1.2");
    assertThat(ServerTls.of(id).protocols()).containsExactly("TLSv1.3", "TLSv1.2");
    assertThat(ClientTls.system().verifyHostname()).isTrue();
  }

  @Test
  void sniChoosesExactThenWildcardThenDefault() throws Exception {
    ServerTls tls =
        ServerTls.builder(identity("default.local"))
            .sni("api.example.com", identity("api.example.com"))
            .sni("*.example.com", identity("*.example.com"))
            .build();
    SSLContext server = TlsContexts.serverContext(tls);
    assertThat(handshake(server, tls, "api.example.com")).isEqualTo("CN=api.example.com");
    assertThat(handshake(server, tls, "www.example.com")).isEqualTo("CN=*.example.com");
    assertThat(handshake(server, tls, "a.b.example.com")).isEqualTo("CN=default.local");
    assertThat(handshake(server, tls, null)).isEqualTo("CN=default.local");
  }

  @Test
  void requiredClientCertificateFromAnotherCaFailsTheHandshake() throws Exception {
    ServerTls tls =
        ServerTls.builder(identity("localhost"))
            .clientAuth(ServerTls.ClientAuth.REQUIRE, TlsTrust.of(PKI.caCertificate()))
            .build();
    TestPki other = TestPki.create("other CA");
    SSLContext server = TlsContexts.serverContext(tls);
    try (SSLServerSocket ss = listen(server, tls)) {
      CompletableFuture<Void> accepted = acceptOne(ss, tls);
      SSLContext client = PKI.sslContext(other.leaf("intruder"));
      try (SSLSocket s =
          (SSLSocket) client.getSocketFactory().createSocket(loopback(), ss.getLocalPort())) {
        assertThatThrownBy(
                () -> {
                  s.startHandshake();
                  s.getInputStream().read(); // TLS 1.3: the server's refusal arrives after
                })
            .isInstanceOf(java.io.IOException.class);
      }
      assertThatThrownBy(accepted::join).hasCauseInstanceOf(SSLHandshakeException.class);
    }
  }

  private TlsIdentity identity(String name) {
    TestPki.Leaf leaf = PKI.leaf(name);
    return TlsIdentity.of(leaf.privateKey(), leaf.chain());
  }

  private static InetAddress loopback() {
    return InetAddress.getLoopbackAddress();
  }

  private static SSLServerSocket listen(SSLContext ctx, ServerTls tls) throws Exception {
    SSLServerSocket ss =
        (SSLServerSocket) ctx.getServerSocketFactory().createServerSocket(0, 10, loopback());
    return ss;
  }

  private static CompletableFuture<Void> acceptOne(SSLServerSocket ss, ServerTls tls) {
    return CompletableFuture.runAsync(
        () -> {
          try (SSLSocket s = (SSLSocket) ss.accept()) {
            TlsContexts.configure(s, tls);
            s.startHandshake();
            try (OutputStream out = s.getOutputStream()) {
              out.write("ok".getBytes(StandardCharsets.US_ASCII));
            }
          } catch (Exception e) {
            throw new java.util.concurrent.CompletionException(e);
          }
        });
  }

  /** The subject of the certificate the server showed for {@code sni}. */
  private static String handshake(SSLContext server, ServerTls tls, String sni) throws Exception {
    try (SSLServerSocket ss = listen(server, tls)) {
      CompletableFuture<Void> accepted = acceptOne(ss, tls);
      try (SSLSocket s =
          (SSLSocket)
              PKI.sslContext().getSocketFactory().createSocket(loopback(), ss.getLocalPort())) {
        var params = s.getSSLParameters();
        params.setServerNames(sni == null ? List.of() : List.of(new SNIHostName(sni)));
        s.setSSLParameters(params);
        s.startHandshake();
        try (InputStream in = s.getInputStream()) {
          assertThat(new String(in.readAllBytes(), StandardCharsets.US_ASCII)).isEqualTo("ok");
        }
        accepted.join();
        X509Certificate peer = (X509Certificate) s.getSession().getPeerCertificates()[0];
        return peer.getSubjectX500Principal().getName();
      }
    }
  }
}
