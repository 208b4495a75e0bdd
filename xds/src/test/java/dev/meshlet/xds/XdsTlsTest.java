package dev.meshlet.xds;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.meshlet.core.ClientTls;
import dev.meshlet.core.TlsIdentity;
import dev.meshlet.core.TlsTrust;
import dev.meshlet.testkit.Await;
import dev.meshlet.testpki.TestPki;
import io.envoyproxy.controlplane.cache.v3.Snapshot;
import io.grpc.TlsServerCredentials;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.TrustManagerFactory;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** mTLS to the control plane: the client's certificate is required, the server's verified. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class XdsTlsTest {
  private final TestPki pki = TestPki.create();
  private ControlPlane cp;
  private XdsClient xds;

  @BeforeEach
  void start() throws Exception {
    TestPki.Leaf server = pki.leafFor(List.of("localhost"), List.of("127.0.0.1"));
    KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
    kmf.init(server.keyStore(new char[0]), new char[0]);
    TrustManagerFactory tmf =
        TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
    tmf.init(pki.trustStore());
    cp =
        new ControlPlane(
            TlsServerCredentials.newBuilder()
                .keyManager(kmf.getKeyManagers())
                .trustManager(tmf.getTrustManagers())
                .clientAuth(TlsServerCredentials.ClientAuth.REQUIRE)
                .build());
    cp.push(
        Snapshot.create(
            List.of(Envoy.staticCluster("a", 9)), List.of(), List.of(), List.of(), List.of(), "1"));
  }

  @AfterEach
  void stop() throws InterruptedException {
    if (xds != null) {
      xds.close();
    }
    cp.close();
    cp.awaitStopped();
  }

  private XdsClient client(ClientTls tls) {
    xds =
        XdsClient.builder()
            .server("127.0.0.1", cp.port())
            .nodeId("n1")
            .tls(tls)
            .reconnectBackoff(Duration.ofMillis(50), Duration.ofMillis(200))
            .build()
            .start();
    return xds;
  }

  @Test
  void clientWithTrustedCertificateSubscribes() {
    TestPki.Leaf me = pki.leaf("meshlet-client");
    client(
        ClientTls.builder()
            .trust(TlsTrust.of(pki.caCertificate()))
            .identity(TlsIdentity.of(me.privateKey(), me.chain()))
            .build());

    Await.until("clusters in force", () -> "1".equals(xds.status().version(XdsStatus.CLUSTER)));
    assertThat(xds.clusters()).containsOnlyKeys("a");
    assertThat(xds.status().connected()).isTrue();
  }

  @Test
  void clientWithoutCertificateOrTrustNeverSubscribes() {
    // trusts another CA: the control plane's certificate is refused
    TestPki.Leaf me = pki.leaf("meshlet-client");
    client(
        ClientTls.builder()
            .trust(TlsTrust.of(TestPki.create().caCertificate()))
            .identity(TlsIdentity.of(me.privateKey(), me.chain()))
            .build());

    Await.until("several failed attempts", () -> xds.status().reconnects() >= 3);
    assertThat(xds.status().versions()).isEmpty();
    assertThat(cp.requests).isEmpty();
  }

  @Test
  void hostnameVerificationCannotBeTurnedOff() {
    assertThatThrownBy(
            () -> XdsClient.builder().tls(ClientTls.builder().verifyHostname(false).build()))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageStartingWith("tls: verifyHostname(false) not supported for the control plane");
  }
}
