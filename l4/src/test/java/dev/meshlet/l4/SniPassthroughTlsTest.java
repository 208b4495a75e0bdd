package dev.meshlet.l4;

import static org.assertj.core.api.Assertions.assertThat;

import dev.meshlet.core.Cluster;
import dev.meshlet.testpki.TestPki;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.FilterOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.SSLSocketFactory;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * SNI passthrough end to end with real TLS: the backends terminate TLS with their own certificate,
 * the client verifies it, and each backend records the ClientHello it got to compare with the one
 * the client sent.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class SniPassthroughTlsTest extends TcpProxyTestSupport {
  static final TestPki PKI = TestPki.create();

  /** The hello each backend received, by backend name. */
  final Map<String, byte[]> hellos = new ConcurrentHashMap<>();

  /** A TLS backend showing {@code leaf}: records the raw hello, then handshakes over it. */
  Cluster tlsPool(String name, TestPki.Leaf leaf) throws IOException {
    ServerSocket server = resources.track(new ServerSocket(0, 50, LOOPBACK));
    SSLSocketFactory tls = leaf.serverContext().getSocketFactory();
    Thread.ofVirtual()
        .start(
            () -> {
              while (!server.isClosed()) {
                try {
                  Socket raw = server.accept();
                  Thread.ofVirtual().start(() -> serve(name, raw, tls));
                } catch (IOException e) {
                  return;
                }
              }
            });
    return resources.track(
        Cluster.builder(name).backend("127.0.0.1:" + server.getLocalPort()).build());
  }

  private void serve(String name, Socket raw, SSLSocketFactory tls) {
    try (raw) {
      InputStream in = raw.getInputStream();
      byte[] buf = new byte[64 * 1024];
      int len = 0;
      while (ClientHello.parse(buf, len) instanceof ClientHello.NeedMore) {
        int n = in.read(buf, len, buf.length - len);
        if (n < 0) {
          return;
        }
        len += n;
      }
      byte[] hello = Arrays.copyOf(buf, len);
      hellos.put(name, hello);
      SSLSocket s = (SSLSocket) tls.createSocket(raw, new ByteArrayInputStream(hello), true);
      s.startHandshake();
      int c = s.getInputStream().read();
      s.getOutputStream().write((name + ":" + (char) c).getBytes(StandardCharsets.US_ASCII));
      s.shutdownOutput();
      s.getInputStream().readAllBytes();
    } catch (IOException ignored) {
      // the test asserts on what the client saw
    }
  }

  /** A socket keeping a copy of every byte written to it: what the client's TLS sent. */
  static final class Recording extends Socket {
    final ByteArrayOutputStream sent = new ByteArrayOutputStream();

    Recording(InetAddress host, int port) throws IOException {
      super(host, port);
    }

    @Override
    public OutputStream getOutputStream() throws IOException {
      return new FilterOutputStream(super.getOutputStream()) {
        @Override
        public void write(byte[] b, int off, int len) throws IOException {
          sent.write(b, off, len);
          out.write(b, off, len);
        }

        @Override
        public void write(int b) throws IOException {
          sent.write(b);
          out.write(b);
        }
      };
    }
  }

  @Test
  void threePoolsTerminateTheirOwnTlsAndSeeTheClientsHelloUntouched() throws Exception {
    TcpProxy proxy =
        start(
            TcpProxy.builder()
                .listen("127.0.0.1", 0)
                .sniRoute("api.example.com", tlsPool("api", PKI.leaf("api.example.com")))
                .sniRoute("*.db.example.com", tlsPool("db", PKI.leaf("*.db.example.com")))
                .cluster(tlsPool("default", PKI.leaf("www.example.org"))));
    SSLContext trusting = PKI.sslContext();
    String[][] cases = {
      {"api.example.com", "api"}, {"eu.db.example.com", "db"}, {"www.example.org", "default"}
    };
    for (String[] c : cases) {
      Recording raw = resources.track(new Recording(LOOPBACK, proxy.port()));
      raw.setSoTimeout(10_000);
      SSLSocket client =
          (SSLSocket) trusting.getSocketFactory().createSocket(raw, c[0], proxy.port(), true);
      SSLParameters p = client.getSSLParameters();
      p.setEndpointIdentificationAlgorithm("HTTPS"); // the backend's certificate must name c[0]
      client.setSSLParameters(p);
      client.startHandshake();
      client.getOutputStream().write('!');
      client.shutdownOutput();
      assertThat(new String(client.getInputStream().readAllBytes(), StandardCharsets.US_ASCII))
          .isEqualTo(c[1] + ":!");
      byte[] got = hellos.get(c[1]);
      assertThat(got).as("the hello %s received", c[1]).isNotNull();
      assertThat(got).isEqualTo(Arrays.copyOf(raw.sent.toByteArray(), got.length));
      client.close();
    }
    assertThat(proxy.stats().hellos().routed()).isEqualTo(2);
    assertThat(proxy.stats().hellos().defaulted()).isEqualTo(1);
  }
}
