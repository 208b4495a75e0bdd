package dev.meshlet.l7;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.meshlet.core.ClientTls;
import dev.meshlet.core.Cluster;
import dev.meshlet.core.PeerIdentity;
import dev.meshlet.core.ServerTls;
import dev.meshlet.core.TlsIdentity;
import dev.meshlet.core.TlsTrust;
import dev.meshlet.testkit.NoLeakedThreads;
import dev.meshlet.testpki.TestPki;
import java.io.IOException;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLSocket;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

@Timeout(value = 60, unit = TimeUnit.SECONDS)
@ExtendWith(NoLeakedThreads.class)
class MutualTlsTest {
  private static final TestPki PKI = TestPki.create();
  private static final String WEB = "spiffe://cluster.local/ns/default/sa/web";
  private static final String DB = "spiffe://cluster.local/ns/default/sa/db";
  private static final String API = "spiffe://cluster.local/ns/default/sa/api";
  private static final TestPki.Leaf WEB_LEAF = PKI.spiffe(WEB);
  private static final TestPki.Leaf DB_LEAF = PKI.spiffe(DB);
  private static TestBackend app;

  @BeforeAll
  static void startApp() throws Exception {
    app = TestBackend.named("app");
  }

  @AfterAll
  static void stopApp() throws Exception {
    app.close();
  }

  @BeforeEach
  void clear() {
    app.requests.clear();
  }

  private static TlsIdentity id(TestPki.Leaf leaf) {
    return TlsIdentity.of(leaf.privateKey(), leaf.chain());
  }

  private static ServerTls mtls(ServerTls.ClientAuth mode) {
    return ServerTls.builder(id(PKI.spiffe(API, "localhost")))
        .clientAuth(mode, TlsTrust.of(PKI.caCertificate()))
        .build();
  }

  private static HttpProxy inbound(ServerTls tls, boolean xfcc, Consumer<HttpRouteBuilder> route)
      throws Exception {
    return HttpProxy.builder()
        .listen("127.0.0.1", 0)
        .tls(tls)
        .forwardClientCert(xfcc)
        .route(route)
        .start();
  }

  private static Consumer<HttpRouteBuilder> toApp() {
    return r -> r.pathPrefix("/").to(Cluster.of("app", app.backend()));
  }

  @Test
  void aTrustedClientCertificateIsAcceptedAndItsSpiffeIdAllowed() throws Exception {
    try (HttpProxy proxy =
            inbound(
                mtls(ServerTls.ClientAuth.REQUIRE),
                false,
                r -> r.pathPrefix("/").allowPeers(WEB).to(Cluster.of("app", app.backend())));
        SSLSocket s = TlsClients.connect(PKI.sslContext(WEB_LEAF), proxy.port(), null)) {
      assertThat(TlsClients.get(s, "localhost", "/ok").status()).isEqualTo(200);
      assertThat(app.last().target()).isEqualTo("/ok");
    }
  }

  @Test
  void noCertificateOrAnUntrustedOneFailsTheHandshake() throws Exception {
    try (HttpProxy proxy = inbound(mtls(ServerTls.ClientAuth.REQUIRE), false, toApp())) {
      SSLContext anonymous = PKI.sslContext();
      SSLContext stranger = PKI.sslContext(TestPki.create("rogue CA").spiffe(WEB));
      for (SSLContext ctx : new SSLContext[] {anonymous, stranger}) {
        assertThatThrownBy(
                () -> {
                  // TLS 1.3: the client's side may finish first; the refusal arrives on read
                  try (SSLSocket s = TlsClients.connect(ctx, proxy.port(), null)) {
                    TlsClients.get(s, "localhost", "/x");
                  }
                })
            .isInstanceOf(IOException.class);
      }
      assertThat(app.requests).isEmpty();
    }
  }

  @Test
  void anIdentityNotAllowedGets403AndTheBackendSeesNothing() throws Exception {
    try (HttpProxy proxy =
            inbound(
                mtls(ServerTls.ClientAuth.REQUEST),
                false,
                r -> r.pathPrefix("/").allowPeers(WEB).to(Cluster.of("app", app.backend())));
        SSLSocket db = TlsClients.connect(PKI.sslContext(DB_LEAF), proxy.port(), null);
        SSLSocket none = TlsClients.connect(PKI.sslContext(), proxy.port(), null)) {
      Raw.Reply r = TlsClients.get(db, "localhost", "/secret");
      assertThat(r.status()).isEqualTo(403);
      assertThat(r.body()).contains("peer not allowed");
      assertThat(TlsClients.get(none, "localhost", "/secret").status()).isEqualTo(403);
      assertThat(app.requests).isEmpty();
      Idle.await(proxy);
      assertThat(proxy.stats().total().errors(HttpProxyStats.ErrorKind.PEER_NOT_ALLOWED))
          .isEqualTo(2);
    }
  }

  @Test
  void peerRulesWithoutClientCertificatesAreRefusedAtStart() {
    Cluster c = Cluster.of("app", app.backend());
    assertThatThrownBy(
            () ->
                HttpProxy.builder()
                    .listen("127.0.0.1", 0)
                    .tls(ServerTls.of(id(PKI.leaf("localhost"))))
                    .route(r -> r.name("orders").allowPeers(WEB).to(c))
                    .start())
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("route 'orders': peer(...)/allowPeers(...) need client certificates");
    assertThatThrownBy(
            () -> HttpProxy.builder().listen("127.0.0.1", 0).route(r -> r.peer(WEB).to(c)).start())
        .isInstanceOf(IllegalStateException.class);
  }

  @Test
  void routesMatchOnTheSpiffeId() throws Exception {
    try (TestBackend admin = TestBackend.named("admin");
        HttpProxy proxy =
            HttpProxy.builder()
                .listen("127.0.0.1", 0)
                .tls(mtls(ServerTls.ClientAuth.REQUIRE))
                .route(r -> r.peer(WEB).to(Cluster.of("admin", admin.backend())))
                .defaultRoute(Cluster.of("app", app.backend()))
                .start();
        SSLSocket web = TlsClients.connect(PKI.sslContext(WEB_LEAF), proxy.port(), null);
        SSLSocket db = TlsClients.connect(PKI.sslContext(DB_LEAF), proxy.port(), null)) {
      assertThat(TlsClients.get(web, "localhost", "/").body()).isEqualTo("admin");
      assertThat(TlsClients.get(db, "localhost", "/").body()).isEqualTo("app");
    }
    RequestHead head =
        RequestHead.builder("GET", "/").peer(PeerIdentity.from(WEB_LEAF.certificate())).build();
    assertThat(head.peer().spiffeId()).isEqualTo(WEB);
  }

  @Test
  void xfccIsForwardedOnlyWhenConfiguredAndTheClientsOwnIsAlwaysStripped() throws Exception {
    for (boolean forward : new boolean[] {false, true}) {
      app.requests.clear();
      try (HttpProxy proxy = inbound(mtls(ServerTls.ClientAuth.REQUIRE), forward, toApp());
          SSLSocket s = TlsClients.connect(PKI.sslContext(WEB_LEAF), proxy.port(), null)) {
        Raw.Reply r =
            TlsClients.get(s, "localhost", "/", "X-Forwarded-Client-Cert", "By=evil;URI=" + DB);
        assertThat(r.status()).isEqualTo(200);
        String xfcc = app.last().header("x-forwarded-client-cert");
        if (!forward) {
          assertThat(xfcc).as("stripped, none added").isNull();
        } else {
          assertThat(app.last().headers().getValuesList("x-forwarded-client-cert")).hasSize(1);
          assertThat(xfcc)
              .startsWith("By=" + API + ";Hash=")
              .contains(";Subject=\"CN=" + WEB + "\"")
              .endsWith(";URI=" + WEB)
              .doesNotContain("evil")
              .doesNotContain(DB);
        }
      }
    }
  }

  @Test
  void twoSidecarsCarryTheWorkloadIdentityOverMutualTls() throws Exception {
    try (HttpProxy in =
            inbound(
                mtls(ServerTls.ClientAuth.REQUIRE),
                true,
                r -> r.pathPrefix("/").allowPeers(WEB).to(Cluster.of("app", app.backend())));
        Cluster webToIn =
            Cluster.builder("api")
                .backend("127.0.0.1:" + in.port())
                .tls(
                    ClientTls.builder()
                        .trust(TlsTrust.of(PKI.caCertificate()))
                        .identity(id(WEB_LEAF))
                        .peers(API) // the inbound sidecar must be the api workload
                        .build())
                .build();
        Cluster dbToIn =
            Cluster.builder("api")
                .backend("127.0.0.1:" + in.port())
                .tls(
                    ClientTls.builder()
                        .trust(TlsTrust.of(PKI.caCertificate()))
                        .identity(id(DB_LEAF))
                        .build())
                .build();
        HttpProxy webOut =
            HttpProxy.builder().listen("127.0.0.1", 0).defaultRoute(webToIn).start();
        HttpProxy dbOut = HttpProxy.builder().listen("127.0.0.1", 0).defaultRoute(dbToIn).start();
        HttpClient http = HttpClient.newHttpClient()) {
      HttpResponse<String> ok =
          http.send(
              HttpRequest.newBuilder(webOut.uri().resolve("/orders")).build(),
              HttpResponse.BodyHandlers.ofString());
      assertThat(ok.statusCode()).isEqualTo(200);
      assertThat(ok.body()).isEqualTo("app");
      assertThat(app.last().header("x-forwarded-client-cert")).contains("URI=" + WEB);
      HttpResponse<String> denied =
          http.send(
              HttpRequest.newBuilder(dbOut.uri().resolve("/orders")).build(),
              HttpResponse.BodyHandlers.ofString());
      assertThat(denied.statusCode()).isEqualTo(403);
      assertThat(app.requests).hasSize(1);
    }
  }
}
