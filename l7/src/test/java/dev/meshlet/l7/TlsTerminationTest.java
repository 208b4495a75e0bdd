package dev.meshlet.l7;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.meshlet.core.Cluster;
import dev.meshlet.core.ServerTls;
import dev.meshlet.core.TlsIdentity;
import dev.meshlet.testkit.Await;
import dev.meshlet.testkit.NoLeakedThreads;
import dev.meshlet.testpki.TestPki;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLHandshakeException;
import javax.net.ssl.SSLSocket;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

@Timeout(value = 60, unit = TimeUnit.SECONDS)
@ExtendWith(NoLeakedThreads.class)
class TlsTerminationTest {
  private static final TestPki PKI = TestPki.create();
  private static TestBackend backend;

  @TempDir Path dir;

  @BeforeAll
  static void startBackend() throws Exception {
    backend = TestBackend.named("app");
  }

  @AfterAll
  static void stopBackend() throws Exception {
    backend.close();
  }

  private static TlsIdentity identity(String... names) {
    TestPki.Leaf leaf = PKI.leaf(names);
    return TlsIdentity.of(leaf.privateKey(), leaf.chain());
  }

  private static HttpProxy start(ServerTls tls) throws Exception {
    return HttpProxy.builder()
        .listen("127.0.0.1", 0)
        .tls(tls)
        .defaultRoute(Cluster.of("app", backend.backend()))
        .start();
  }

  @Test
  void terminatesTlsForTheJdkClientAndSaysHttpsUpstream() throws Exception {
    try (HttpProxy proxy = start(ServerTls.of(identity("localhost")));
        HttpClient client = HttpClient.newBuilder().sslContext(PKI.sslContext()).build()) {
      assertThat(proxy.uri().getScheme()).isEqualTo("https");
      HttpResponse<String> r =
          client.send(
              HttpRequest.newBuilder(
                      java.net.URI.create("https://localhost:" + proxy.port() + "/hello"))
                  .build(),
              HttpResponse.BodyHandlers.ofString());
      assertThat(r.statusCode()).isEqualTo(200);
      assertThat(r.body()).isEqualTo("app");
      assertThat(r.sslSession())
          .hasValueSatisfying(s -> assertThat(s.getProtocol()).isEqualTo("TLSv1.3"));
      assertThat(backend.last().header("X-Forwarded-Proto")).isEqualTo("https");
    }
  }

  @Test
  void sniChoosesAmongThreeCertificates() throws Exception {
    ServerTls tls =
        ServerTls.builder(identity("localhost"))
            .sni("api.example.com", identity("api.example.com"))
            .sni("*.example.com", identity("*.example.com"))
            .build();
    try (HttpProxy proxy = start(tls)) {
      for (String[] c :
          new String[][] {
            {"api.example.com", "CN=api.example.com"},
            {"www.example.com", "CN=*.example.com"},
            {"other.test", "CN=localhost"}
          }) {
        try (SSLSocket s = TlsClients.connect(PKI.sslContext(), proxy.port(), c[0])) {
          assertThat(TlsClients.peerSubject(s)).as(c[0]).isEqualTo(c[1]);
          // the Host need not match the certificate: no SNI host check
          assertThat(TlsClients.get(s, c[0], "/").status()).isEqualTo(200);
        }
      }
    }
  }

  @Test
  void onlyTls12AndNewerAreAccepted() throws Exception {
    try (HttpProxy proxy = start(ServerTls.of(identity("localhost")))) {
      javax.net.ssl.SSLContext old = PKI.sslContext();
      assertThatThrownBy(
              () -> {
                SSLSocket s =
                    (SSLSocket) old.getSocketFactory().createSocket("127.0.0.1", proxy.port());
                try (s) {
                  s.setEnabledProtocols(new String[] {"TLSv1.1"});
                  s.startHandshake();
                }
              })
          .isInstanceOf(javax.net.ssl.SSLException.class);
      try (SSLSocket s = TlsClients.connect(PKI.sslContext(), proxy.port(), null)) {
        assertThat(s.getSession().getProtocol()).isEqualTo("TLSv1.3");
      }
      try (SSLSocket s =
          (SSLSocket) PKI.sslContext().getSocketFactory().createSocket("127.0.0.1", proxy.port())) {
        s.setEnabledProtocols(new String[] {"TLSv1.2"});
        s.startHandshake();
        assertThat(s.getSession().getProtocol()).isEqualTo("TLSv1.2");
      }
    }
  }

  @Test
  void reloadKeepsOpenConnectionsAndNewHandshakesSeeTheNewCertificate() throws Exception {
    try (HttpProxy proxy = start(ServerTls.of(identity("localhost", "old.local")));
        SSLSocket before = TlsClients.connect(PKI.sslContext(), proxy.port(), null)) {
      assertThat(TlsClients.get(before, "localhost", "/a").status()).isEqualTo(200);
      assertThat(TlsClients.peerSubject(before)).isEqualTo("CN=localhost");

      proxy.reloadTls(ServerTls.of(identity("new.local", "localhost")));

      assertThat(TlsClients.get(before, "localhost", "/b").status()).isEqualTo(200);
      try (SSLSocket after = TlsClients.connect(PKI.sslContext(), proxy.port(), null)) {
        assertThat(TlsClients.peerSubject(after)).isEqualTo("CN=new.local");
        assertThat(TlsClients.get(after, "localhost", "/c").status()).isEqualTo(200);
      }
      assertThat(TlsClients.get(before, "localhost", "/d").status()).isEqualTo(200);
      assertThat(proxy.tls().identity().leaf().getSubjectX500Principal().getName())
          .isEqualTo("CN=new.local");
    }
  }

  @Test
  void rewrittenPemFilesAreReloadedByTheWatch() throws Exception {
    TestPki.Pem pem =
        PKI.leaf("localhost").writePem(dir.resolve("server.crt"), dir.resolve("server.key"));
    try (HttpProxy proxy = start(ServerTls.of(TlsIdentity.pem(pem.chain(), pem.key())));
        SSLSocket before = TlsClients.connect(PKI.sslContext(), proxy.port(), null)) {
      assertThat(TlsClients.peerSubject(before)).isEqualTo("CN=localhost");
      // a half-written change does not replace what works: a key alone, then the pair
      TestPki.Leaf next = PKI.leaf("rotated.local", "localhost");
      Path tmpKey = dir.resolve("tmp.key");
      next.writePem(dir.resolve("tmp.crt"), tmpKey);
      Files.copy(tmpKey, pem.key(), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
      next.writePem(pem.chain(), pem.key());
      String seen =
          Await.value(
              "a new handshake showing the rotated certificate",
              () -> {
                try (SSLSocket s = TlsClients.connect(PKI.sslContext(), proxy.port(), null)) {
                  return TlsClients.peerSubject(s);
                } catch (java.io.IOException e) {
                  return e.toString();
                }
              },
              "CN=rotated.local"::equals);
      assertThat(seen).isEqualTo("CN=rotated.local");
      assertThat(TlsClients.get(before, "localhost", "/still-open").status()).isEqualTo(200);
    }
  }

  @Test
  void reloadFromFilesThatNoLongerReadKeepsTheCertificatesInUse() throws Exception {
    TestPki.Pem pem = PKI.leaf("localhost").writePem(dir);
    try (HttpProxy proxy =
        HttpProxy.builder()
            .listen("127.0.0.1", 0)
            .tls(ServerTls.of(TlsIdentity.pem(pem.chain(), pem.key())))
            .watchTlsFiles(false)
            .defaultRoute(Cluster.of("app", backend.backend()))
            .start()) {
      PKI.leaf("other").writePem(dir.resolve("other.crt"), pem.key()); // the key no longer matches
      assertThatThrownBy(proxy::reloadTls)
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining(pem.key().toString())
          .hasMessageContaining("does not match");
      try (SSLSocket s = TlsClients.connect(PKI.sslContext(), proxy.port(), null)) {
        assertThat(TlsClients.peerSubject(s)).isEqualTo("CN=localhost");
      }
    }
  }

  @Test
  void aClientThatDistrustsTheCertificateFailsItsHandshake() throws Exception {
    try (HttpProxy proxy = start(ServerTls.of(identity("localhost")))) {
      assertThatThrownBy(
              () -> TlsClients.connect(TestPki.create("other").sslContext(), proxy.port(), null))
          .isInstanceOf(SSLHandshakeException.class);
      try (SSLSocket s = TlsClients.connect(PKI.sslContext(), proxy.port(), null)) {
        assertThat(TlsClients.get(s, "localhost", "/").status()).isEqualTo(200); // still serving
      }
    }
  }
}
