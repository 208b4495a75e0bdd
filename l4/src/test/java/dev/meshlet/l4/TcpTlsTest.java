package dev.meshlet.l4;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.meshlet.core.Backend;
import dev.meshlet.core.ClientTls;
import dev.meshlet.core.Cluster;
import dev.meshlet.core.ServerTls;
import dev.meshlet.core.TlsIdentity;
import dev.meshlet.core.TlsTrust;
import dev.meshlet.testkit.EchoServer;
import dev.meshlet.testpki.TestPki;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLException;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLServerSocket;
import javax.net.ssl.SSLSocket;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** TLS on the TCP proxy: terminated toward clients, originated toward backends, real handshakes. */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class TcpTlsTest extends TcpProxyTestSupport {
  static final TestPki PKI = TestPki.create();
  static final TestPki.Leaf LOCALHOST = PKI.leaf("localhost");

  static TlsIdentity identity(TestPki.Leaf leaf) {
    return TlsIdentity.of(leaf.privateKey(), leaf.chain());
  }

  /** A TLS client to the proxy, verifying the proxy's certificate for {@code host}. */
  SSLSocket tlsClient(SSLContext context, int port, String host) throws IOException {
    Socket raw = connect(port);
    SSLSocket s = (SSLSocket) context.getSocketFactory().createSocket(raw, host, port, true);
    SSLParameters p = s.getSSLParameters();
    p.setEndpointIdentificationAlgorithm("HTTPS");
    s.setSSLParameters(p);
    return resources.track(s);
  }

  Socket connect(int port) throws IOException {
    Socket s = resources.track(new Socket(LOOPBACK, port));
    s.setSoTimeout(10_000);
    return s;
  }

  /** A TLS echo server showing {@code leaf}, for origination tests. */
  ServerSocket tlsEcho(TestPki.Leaf leaf) throws IOException {
    SSLServerSocket server =
        (SSLServerSocket)
            leaf.serverContext().getServerSocketFactory().createServerSocket(0, 50, LOOPBACK);
    resources.track(server);
    Thread.ofVirtual()
        .start(
            () -> {
              while (!server.isClosed()) {
                try {
                  Socket s = server.accept();
                  Thread.ofVirtual().start(() -> echoOnce(s));
                } catch (IOException e) {
                  return;
                }
              }
            });
    return server;
  }

  private static void echoOnce(Socket s) {
    try (s) {
      InputStream in = s.getInputStream();
      OutputStream out = s.getOutputStream();
      byte[] buf = new byte[8192];
      int n;
      while ((n = in.read(buf)) > 0) {
        out.write(buf, 0, n);
        out.flush();
      }
    } catch (IOException ignored) {
      // a failed handshake: the test asserts on the proxy's side
    }
  }

  @Test
  void terminatesTlsInFrontOfAPlaintextBackendAndHalfClosesThroughIt() throws Exception {
    EchoServer plain = echo();
    TcpProxy proxy = start(proxyTo(plain).tls(ServerTls.of(identity(LOCALHOST))));
    SSLSocket client = tlsClient(PKI.sslContext(), proxy.port(), "localhost");
    client.startHandshake();
    assertThat(client.getSession().getProtocol()).isEqualTo("TLSv1.3");
    byte[] payload = new byte[300_000];
    new Random(5).nextBytes(payload);
    CompletableFuture<Void> writer =
        CompletableFuture.runAsync(
            () -> {
              try {
                client.getOutputStream().write(payload);
                client.shutdownOutput(); // close_notify, then the echo backend ends its side
              } catch (IOException e) {
                throw new RuntimeException(e);
              }
            });
    byte[] echoed = client.getInputStream().readAllBytes();
    writer.get();
    assertThat(echoed).isEqualTo(payload);
    client.close();
    proxy.awaitIdle(Duration.ofSeconds(10));
    assertThat(proxy.stats().bytesUpstream()).isEqualTo(payload.length);
    assertThat(proxy.stats().tlsHandshakeFailures()).isZero();
  }

  @Test
  void aBadOrSilentClientFailsItsHandshakeAloneAndIsCounted() throws Exception {
    TcpProxy proxy =
        start(
            proxyTo(echo())
                .tls(ServerTls.of(identity(LOCALHOST)))
                .handshakeTimeout(Duration.ofMillis(400)));
    Socket silent = connect(proxy.port()); // sends nothing: only the deadline ends it
    Socket garbage = connect(proxy.port());
    garbage
        .getOutputStream()
        .write("GET / HTTP/1.1\r\nHost: x\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
    SSLSocket good = tlsClient(PKI.sslContext(), proxy.port(), "localhost"); // served meanwhile
    good.getOutputStream().write('x');
    assertThat(good.getInputStream().read()).isEqualTo('x');
    byte[] answer = garbage.getInputStream().readAllBytes(); // a TLS alert at most, then closed
    assertThat(answer.length == 0 || answer[0] == 21).as("alert or nothing").isTrue();
    long started = System.nanoTime();
    assertThat(silent.getInputStream().read()).isEqualTo(-1);
    assertThat(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started)).isLessThan(5_000);
    SSLSocket distrusting =
        tlsClient(TestPki.create("other CA").sslContext(), proxy.port(), "localhost");
    assertThatThrownBy(distrusting::startHandshake).isInstanceOf(SSLException.class);
    good.close();
    proxy.awaitIdle(Duration.ofSeconds(10));
    assertThat(proxy.stats().tlsHandshakeFailures()).isEqualTo(3);
    assertThat(proxy.cluster().endpoints().get(0).stats().total())
        .as("backend connections")
        .isEqualTo(1);
    assertThat(proxy.journal().entries(TcpEvent.Closed.class))
        .extracting(TcpEvent.Closed::cause)
        .anyMatch(c -> c.equals("tls handshake: timed out (handshakeTimeout)"))
        .anyMatch(c -> c.startsWith("tls handshake: ") && !c.contains("timed out"));
  }

  @Test
  void originatesTlsToBackendsVerifyingTheirHostName() throws Exception {
    ServerSocket backend = tlsEcho(LOCALHOST);
    Cluster cluster =
        resources.track(
            Cluster.builder("tls-backends")
                .backends(Backend.of("127.0.0.1", backend.getLocalPort()))
                .tls(ClientTls.builder().trust(TlsTrust.of(PKI.caCertificate())).build())
                .build());
    TcpProxy proxy = start(TcpProxy.builder().listen("127.0.0.1", 0).cluster(cluster));
    Socket client = connect(proxy.port());
    client.getOutputStream().write("hello over tls".getBytes(StandardCharsets.US_ASCII));
    client.shutdownOutput();
    assertThat(new String(client.getInputStream().readAllBytes(), StandardCharsets.US_ASCII))
        .isEqualTo("hello over tls");
    assertThat(proxy.stats().backendTlsFailures()).isZero();
  }

  @Test
  void aBackendWhoseCertificateDoesNotNameItFailsCountedAndJournaled() throws Exception {
    ServerSocket wrong = tlsEcho(PKI.wrongHost());
    Cluster cluster =
        resources.track(
            Cluster.builder("wrong-name")
                .backends(Backend.of("127.0.0.1", wrong.getLocalPort()))
                .tls(ClientTls.builder().trust(TlsTrust.of(PKI.caCertificate())).build())
                .build());
    TcpProxy proxy = start(TcpProxy.builder().listen("127.0.0.1", 0).cluster(cluster));
    Socket client = connect(proxy.port());
    assertThat(client.getInputStream().read()).isEqualTo(-1); // nothing to forward to
    proxy.awaitIdle(Duration.ofSeconds(10));
    assertThat(proxy.stats().backendTlsFailures()).isEqualTo(1);
    assertThat(proxy.stats().connectFailures()).isEqualTo(1);
    TcpEvent.BackendTlsFailed failed =
        proxy.journal().entries(TcpEvent.BackendTlsFailed.class).get(0);
    assertThat(failed.backend().port()).isEqualTo(wrong.getLocalPort());
    assertThat(failed.reason()).contains("127.0.0.1");
    assertThat(proxy.journal().entries(TcpEvent.Closed.class).get(0).cause())
        .isEqualTo("no backend");
  }

  @Test
  void requiredClientCertificatesAreCheckedAgainstTheTrust() throws Exception {
    TcpProxy proxy =
        start(
            proxyTo(echo())
                .tls(
                    ServerTls.builder(identity(LOCALHOST))
                        .clientAuth(ServerTls.ClientAuth.REQUIRE, TlsTrust.of(PKI.caCertificate()))
                        .build()));
    SSLSocket withCert =
        tlsClient(PKI.sslContext(PKI.leaf("client.example.com")), proxy.port(), "localhost");
    withCert.getOutputStream().write('m');
    assertThat(withCert.getInputStream().read()).isEqualTo('m');
    SSLSocket without = tlsClient(PKI.sslContext(), proxy.port(), "localhost");
    // TLS 1.3: the client may finish its side before the server's refusal arrives
    assertThatThrownBy(
            () -> {
              without.getOutputStream().write('x');
              without.getInputStream().read();
            })
        .isInstanceOf(IOException.class);
    withCert.close();
    proxy.awaitIdle(Duration.ofSeconds(10));
    assertThat(proxy.stats().tlsHandshakeFailures()).isEqualTo(1);
    assertThat(proxy.cluster().endpoints().get(0).stats().total()).isEqualTo(1);
  }

  @Test
  void routesBySniThenTerminatesWithTheCertificateForThatName() throws Exception {
    EchoServer api =
        resources.track(
            EchoServer.handling(
                c -> {
                  c.getOutputStream().write("api".getBytes(StandardCharsets.US_ASCII));
                  c.shutdownOutput();
                  c.getInputStream().readAllBytes();
                }));
    TcpProxy proxy =
        start(
            proxyTo(echo())
                .sniRoute("api.example.com", resources.track(Cluster.of("api", backend(api))))
                .tls(
                    ServerTls.builder(identity(LOCALHOST))
                        .sni("api.example.com", identity(PKI.leaf("api.example.com")))
                        .build()));
    // the hello read for routing is handed to TLS: the handshake completes over it
    SSLSocket client = tlsClient(PKI.sslContext(), proxy.port(), "api.example.com");
    client.startHandshake();
    assertThat(new String(client.getInputStream().readAllBytes(), StandardCharsets.US_ASCII))
        .isEqualTo("api");
    SSLSocket other = tlsClient(PKI.sslContext(), proxy.port(), "localhost");
    other.getOutputStream().write('e');
    assertThat(other.getInputStream().read()).isEqualTo('e'); // the default cluster echoes
    assertThat(proxy.stats().hellos().routed()).isEqualTo(1);
    assertThat(proxy.stats().hellos().defaulted()).isEqualTo(1);
  }
}
