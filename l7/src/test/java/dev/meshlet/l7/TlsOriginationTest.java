package dev.meshlet.l7;

import static org.assertj.core.api.Assertions.assertThat;

import dev.meshlet.core.Backend;
import dev.meshlet.core.ClientTls;
import dev.meshlet.core.Cluster;
import dev.meshlet.core.ServerTls;
import dev.meshlet.core.TlsIdentity;
import dev.meshlet.core.TlsTrust;
import dev.meshlet.core.internal.TlsContexts;
import dev.meshlet.testkit.NoLeakedThreads;
import dev.meshlet.testpki.TestPki;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLContext;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

@Timeout(value = 60, unit = TimeUnit.SECONDS)
@ExtendWith(NoLeakedThreads.class)
class TlsOriginationTest {
  private static final TestPki PKI = TestPki.create();
  private static HttpClient http;

  @BeforeAll
  static void client() {
    http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
  }

  @AfterAll
  static void close() {
    http.close();
  }

  private static ClientTls trustingPki() {
    return ClientTls.builder().trust(TlsTrust.of(PKI.caCertificate())).build();
  }

  private static HttpProxy proxyTo(Cluster cluster) throws Exception {
    return HttpProxy.builder().listen("127.0.0.1", 0).defaultRoute(cluster).start();
  }

  private static HttpResponse<String> get(HttpProxy proxy, String path) throws Exception {
    return http.send(
        HttpRequest.newBuilder(proxy.uri().resolve(path)).build(),
        HttpResponse.BodyHandlers.ofString());
  }

  private static Backend localhost(TestBackend b) {
    return Backend.of("localhost", b.port()).withName(b.name);
  }

  @Test
  void speaksTlsToTheBackendSendingItsNameInSni() throws Exception {
    // the backend shows a certificate naming localhost only to a client asking for it in SNI
    TestPki.Leaf good = PKI.leaf("localhost");
    TestPki.Leaf wrong = PKI.wrongHost();
    SSLContext bySni =
        TlsContexts.serverContext(
            ServerTls.builder(TlsIdentity.of(wrong.privateKey(), wrong.chain()))
                .sni("localhost", TlsIdentity.of(good.privateKey(), good.chain()))
                .build());
    try (TestBackend b = TestBackend.namedTls("secure", bySni);
        Cluster c = Cluster.builder("secure").backends(localhost(b)).tls(trustingPki()).build();
        HttpProxy proxy = proxyTo(c)) {
      HttpResponse<String> r = get(proxy, "/x");
      assertThat(r.statusCode()).isEqualTo(200);
      assertThat(r.body()).isEqualTo("secure");
      assertThat(b.last().header("X-Forwarded-Proto")).isEqualTo("http");
      assertThat(get(proxy, "/y").statusCode()).isEqualTo(200);
      assertThat(b.requests).hasSize(2);
    }
  }

  @Test
  void aBackendCertificateForAnotherHostIsA502CountedAndJournaled() throws Exception {
    try (TestBackend b = TestBackend.namedTls("wrong", PKI.wrongHost().serverContext());
        Cluster c = Cluster.builder("wrong").backends(localhost(b)).tls(trustingPki()).build();
        HttpProxy proxy = proxyTo(c)) {
      HttpResponse<String> r = get(proxy, "/x");
      assertThat(r.statusCode()).isEqualTo(502);
      assertThat(r.body())
          .contains("backend wrong")
          .contains("TLS handshake failed: certificate does not name localhost");
      assertThat(b.requests).isEmpty();
      HttpEvent.Completed done = proxy.awaitRequests(1, Duration.ofSeconds(10)).get(0);
      assertThat(done.error()).isEqualTo(HttpProxyStats.ErrorKind.BACKEND_TLS);
      assertThat(proxy.stats().total().errors(HttpProxyStats.ErrorKind.BACKEND_TLS)).isEqualTo(1);
    }
  }

  @Test
  void anExpiredBackendCertificateIsA502() throws Exception {
    try (TestBackend b = TestBackend.namedTls("old", PKI.expired("localhost").serverContext());
        Cluster c = Cluster.builder("old").backends(localhost(b)).tls(trustingPki()).build();
        HttpProxy proxy = proxyTo(c)) {
      HttpResponse<String> r = get(proxy, "/x");
      assertThat(r.statusCode()).isEqualTo(502);
      assertThat(r.body()).contains("certificate expired");
      assertThat(b.requests).isEmpty();
      Idle.await(proxy);
      assertThat(proxy.stats().total().errors(HttpProxyStats.ErrorKind.BACKEND_TLS)).isEqualTo(1);
    }
  }

  @Test
  void aBackendFromAnUntrustedCaIsA502() throws Exception {
    TestPki other = TestPki.create("other CA");
    try (TestBackend b = TestBackend.namedTls("rogue", other.leaf("localhost").serverContext());
        Cluster c = Cluster.builder("rogue").backends(localhost(b)).tls(trustingPki()).build();
        HttpProxy proxy = proxyTo(c)) {
      HttpResponse<String> r = get(proxy, "/x");
      assertThat(r.statusCode()).isEqualTo(502);
      assertThat(r.body()).contains("certificate not trusted");
      assertThat(b.requests).isEmpty();
    }
  }

  @Test
  void hostnameVerificationCanBeTurnedOffAndTheServerNameOverridden() throws Exception {
    try (TestBackend b = TestBackend.namedTls("named", PKI.leaf("svc.internal").serverContext());
        Cluster named =
            Cluster.builder("named")
                .backends(b.backend()) // dialled at 127.0.0.1
                .tls(trustingPki().toBuilder().serverName("svc.internal").build())
                .build();
        HttpProxy proxy = proxyTo(named)) {
      assertThat(get(proxy, "/x").statusCode()).isEqualTo(200);
    }
    try (TestBackend b = TestBackend.namedTls("any", PKI.wrongHost().serverContext());
        Cluster lax =
            Cluster.builder("any")
                .backends(b.backend())
                .tls(trustingPki().toBuilder().verifyHostname(false).build())
                .build();
        HttpProxy proxy = proxyTo(lax)) {
      assertThat(get(proxy, "/x").statusCode()).isEqualTo(200);
    }
  }

  @Test
  void theBackendMustNameAnExpectedPeerWhenPeersAreSet() throws Exception {
    String api = "spiffe://cluster.local/ns/default/sa/api";
    try (TestBackend b = TestBackend.namedTls("api", PKI.spiffe(api).serverContext());
        Cluster right =
            Cluster.builder("api")
                .backends(b.backend())
                .tls(trustingPki().toBuilder().peers(api).build())
                .build();
        Cluster wrong =
            Cluster.builder("api")
                .backends(b.backend())
                .tls(trustingPki().toBuilder().peers("spiffe://cluster.local/ns/x/sa/y").build())
                .build();
        HttpProxy ok = proxyTo(right);
        HttpProxy refused = proxyTo(wrong)) {
      assertThat(get(ok, "/x").statusCode()).isEqualTo(200);
      HttpResponse<String> r = get(refused, "/x");
      assertThat(r.statusCode()).isEqualTo(502);
      assertThat(r.body()).contains("certificate names none of the peers expected");
      assertThat(b.requests).hasSize(1);
    }
  }

  @Test
  void plainAndTlsClustersShareOneProxy() throws Exception {
    try (TestBackend plain = TestBackend.named("plain");
        TestBackend secure = TestBackend.namedTls("secure", PKI.leaf("localhost").serverContext());
        Cluster p = Cluster.of("plain", plain.backend());
        Cluster s =
            Cluster.builder("secure").backends(localhost(secure)).tls(trustingPki()).build();
        HttpProxy proxy =
            HttpProxy.builder()
                .listen("127.0.0.1", 0)
                .route(r -> r.pathPrefix("/s/").to(s))
                .defaultRoute(p)
                .start()) {
      assertThat(get(proxy, "/s/a").body()).isEqualTo("secure");
      assertThat(get(proxy, "/p").body()).isEqualTo("plain");
      URI u = proxy.uri();
      assertThat(u.getScheme()).isEqualTo("http");
    }
  }
}
