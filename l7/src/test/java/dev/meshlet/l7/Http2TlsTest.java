package dev.meshlet.l7;

import static org.assertj.core.api.Assertions.assertThat;

import dev.meshlet.core.Backend;
import dev.meshlet.core.ClientTls;
import dev.meshlet.core.Cluster;
import dev.meshlet.core.ServerTls;
import dev.meshlet.core.TlsIdentity;
import dev.meshlet.core.TlsTrust;
import dev.meshlet.testkit.NoLeakedThreads;
import dev.meshlet.testpki.TestPki;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

/** h2 over TLS: offered by ALPN on the listener, and to a cluster's TLS backends. */
@ExtendWith(NoLeakedThreads.class)
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class Http2TlsTest {
  private static final TestPki PKI = TestPki.create();
  private static final TestPki.Leaf LOCALHOST = PKI.leaf("localhost");

  private static ServerTls serverTls() {
    return ServerTls.of(TlsIdentity.of(LOCALHOST.privateKey(), LOCALHOST.chain()));
  }

  private static ClientTls trustingPki() {
    return ClientTls.builder().trust(TlsTrust.of(PKI.caCertificate())).build();
  }

  private static HttpResponse<String> get(HttpClient.Version version, URI uri) throws Exception {
    try (HttpClient c =
        HttpClient.newBuilder().version(version).sslContext(PKI.sslContext()).build()) {
      return c.send(HttpRequest.newBuilder(uri).build(), HttpResponse.BodyHandlers.ofString());
    }
  }

  private static URI https(HttpProxy p) {
    return URI.create("https://localhost:" + p.port() + "/x");
  }

  @Test
  void tlsListenerOffersH2AndHttp11ByAlpn() throws Exception {
    try (TestBackend b = TestBackend.named("b");
        HttpProxy p =
            HttpProxy.builder()
                .listen("127.0.0.1", 0)
                .tls(serverTls())
                .defaultRoute(Cluster.of("c", b.backend()))
                .start()) {
      HttpResponse<String> h2 = get(HttpClient.Version.HTTP_2, https(p));
      assertThat(h2.statusCode()).isEqualTo(200);
      assertThat(h2.version()).isEqualTo(HttpClient.Version.HTTP_2);
      assertThat(h2.body()).isEqualTo("b");
      assertThat(b.last().header("X-Forwarded-Proto")).isEqualTo("https");
      assertThat(b.last().header("Host")).isEqualTo("localhost:" + p.port());
      HttpResponse<String> h1 = get(HttpClient.Version.HTTP_1_1, https(p));
      assertThat(h1.statusCode()).isEqualTo(200);
      assertThat(h1.version()).isEqualTo(HttpClient.Version.HTTP_1_1);
    }
  }

  @Test
  void h2OffCanBeTurnedOffOnATlsListener() throws Exception {
    try (TestBackend b = TestBackend.named("b");
        HttpProxy p =
            HttpProxy.builder()
                .listen("127.0.0.1", 0)
                .tls(serverTls())
                .h2(false)
                .defaultRoute(Cluster.of("c", b.backend()))
                .start()) {
      HttpResponse<String> r = get(HttpClient.Version.HTTP_2, https(p));
      assertThat(r.statusCode()).isEqualTo(200);
      assertThat(r.version()).isEqualTo(HttpClient.Version.HTTP_1_1);
    }
  }

  @Test
  void h2ClusterSpeaksH2ToATlsBackendByAlpn() throws Exception {
    try (H2Backend b = H2Backend.h2("s", LOCALHOST.serverContext(), Http2Test::handle);
        Cluster c =
            Cluster.builder("s")
                .backends(Backend.of("localhost", b.port()).withName("s"))
                .tls(trustingPki())
                .build();
        HttpProxy p =
            HttpProxy.builder()
                .listen("127.0.0.1", 0)
                .upstreamProtocol(c, UpstreamProtocol.H2)
                .defaultRoute(c)
                .start()) {
      for (int i = 0; i < 3; i++) {
        HttpResponse<String> r = get(HttpClient.Version.HTTP_1_1, p.uri().resolve("/x"));
        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.headers().firstValue("x-protocol")).hasValue("HTTP/2.0");
        assertThat(r.headers().firstValue("x-authority")).hasValue("127.0.0.1:" + p.port());
      }
      assertThat(b.connections.get()).as("requests share one h2 connection").isEqualTo(1);
    }
  }

  @Test
  void h2ClusterFallsBackToHttp11WhenTheBackendDeclinesH2() throws Exception {
    try (TestBackend b = TestBackend.namedTls("old", LOCALHOST.serverContext());
        Cluster c =
            Cluster.builder("old")
                .backends(Backend.of("localhost", b.port()).withName("old"))
                .tls(trustingPki())
                .build();
        HttpProxy p =
            HttpProxy.builder()
                .listen("127.0.0.1", 0)
                .upstreamProtocol(c, UpstreamProtocol.H2)
                .defaultRoute(c)
                .start()) {
      long t0 = System.nanoTime();
      HttpResponse<String> r = get(HttpClient.Version.HTTP_1_1, p.uri().resolve("/x"));
      System.err.println(
          "DBG get "
              + (System.nanoTime() - t0) / 1000000
              + " inflight "
              + p.stats().total().inFlight());
      assertThat(r.statusCode()).isEqualTo(200);
      assertThat(r.body()).isEqualTo("old");
      assertThat(b.last().version()).isEqualTo("HTTP/1.1");
    }
  }

  @Test
  void h2cOnAClusterWithTlsIsRefused() {
    Cluster c =
        Cluster.builder("t").backends(Backend.of("localhost", 1)).tls(trustingPki()).build();
    try {
      org.assertj.core.api.Assertions.assertThatThrownBy(
              () -> HttpProxy.builder().upstreamProtocol(c, UpstreamProtocol.H2C))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("cluster 't' has TLS")
          .hasMessageContaining("UpstreamProtocol.H2");
    } finally {
      c.close();
    }
  }
}
