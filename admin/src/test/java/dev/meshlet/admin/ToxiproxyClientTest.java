package dev.meshlet.admin;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.meshlet.testkit.EchoServer;
import eu.rekawek.toxiproxy.Proxy;
import eu.rekawek.toxiproxy.ToxiproxyClient;
import eu.rekawek.toxiproxy.model.ToxicDirection;
import eu.rekawek.toxiproxy.model.toxic.Latency;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.ConnectException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketException;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The real Toxiproxy Java client drives meshlet's Toxiproxy API, and every toxic it adds shows on
 * TCP traffic through the proxy it made.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class ToxiproxyClientTest {
  private EchoServer echo;
  private Admin admin;
  private ToxiproxyClient client;

  @BeforeEach
  void start() throws IOException {
    echo = EchoServer.start();
    admin = Admin.builder().listen("127.0.0.1", 0).start();
    client = new ToxiproxyClient("127.0.0.1", admin.port());
  }

  @AfterEach
  void stop() {
    admin.close();
    echo.close();
  }

  private Proxy proxy(String name) throws IOException {
    return client.createProxy(name, "127.0.0.1:0", "127.0.0.1:" + echo.port());
  }

  private static int port(Proxy p) {
    String l = p.getListen();
    return Integer.parseInt(l.substring(l.lastIndexOf(':') + 1));
  }

  private static Socket connect(Proxy p) throws IOException {
    Socket s = new Socket();
    s.connect(new InetSocketAddress("127.0.0.1", port(p)), 5000);
    s.setSoTimeout(20_000);
    return s;
  }

  /** Sends {@code msg}, reads as many bytes back, returns the milliseconds the round trip took. */
  private static long roundTripMillis(Socket s, byte[] msg) throws IOException {
    long t0 = System.nanoTime();
    s.getOutputStream().write(msg);
    s.getOutputStream().flush();
    byte[] back = s.getInputStream().readNBytes(msg.length);
    long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
    assertThat(back).isEqualTo(msg);
    return ms;
  }

  private static byte[] readToEnd(InputStream in) throws IOException {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    byte[] buf = new byte[8192];
    try {
      int n;
      while ((n = in.read(buf)) >= 0) {
        out.write(buf, 0, n);
      }
    } catch (SocketException reset) {
      // a reset ends the stream as well; what came before it is what counts
    }
    return out.toByteArray();
  }

  @Test
  void createdProxyForwardsAndIsListed() throws IOException {
    Proxy p = proxy("echo");
    assertThat(p.isEnabled()).isTrue();
    assertThat(p.getUpstream()).isEqualTo("127.0.0.1:" + echo.port());
    assertThat(port(p)).isPositive();
    try (Socket s = connect(p)) {
      roundTripMillis(s, "hello".getBytes(StandardCharsets.US_ASCII));
    }
    assertThat(client.getProxies()).extracting(Proxy::getName).containsExactly("echo");
    assertThat(client.getProxy("echo").getListen()).isEqualTo(p.getListen());
    assertThat(client.version()).contains("version");
  }

  @Test
  void latencyDelaysTheRoundTripAndCanBeUpdatedAndRemoved() throws IOException {
    Proxy p = proxy("lat");
    Latency latency = p.toxics().latency("slow", ToxicDirection.DOWNSTREAM, 200);
    assertThat(latency.getLatency()).isEqualTo(200);
    assertThat(latency.getJitter()).isZero();
    try (Socket s = connect(p)) {
      assertThat(roundTripMillis(s, new byte[] {1, 2, 3})).isGreaterThanOrEqualTo(200);
    }
    latency.setLatency(400);
    assertThat(p.toxics().get("slow", Latency.class).getLatency()).isEqualTo(400);
    try (Socket s = connect(p)) {
      assertThat(roundTripMillis(s, new byte[] {4})).isGreaterThanOrEqualTo(400);
    }
    latency.setToxicity(0.5f);
    assertThat(p.toxics().get("slow").getToxicity()).isEqualTo(0.5f);
    latency.remove();
    assertThat(p.toxics().getAll()).isEmpty();
    try (Socket s = connect(p)) {
      assertThat(roundTripMillis(s, new byte[] {5})).isLessThan(200);
    }
  }

  @Test
  void bandwidthPacesTheStream() throws IOException {
    Proxy p = proxy("bw");
    p.toxics().bandwidth("thin", ToxicDirection.DOWNSTREAM, 100); // 100 KB/s
    byte[] msg = new byte[60_000];
    Arrays.fill(msg, (byte) 'x');
    try (Socket s = connect(p)) {
      // 60 KB at 100 KB/s takes 0.6 s; the first burst may pass before the pacing starts
      assertThat(roundTripMillis(s, msg)).isGreaterThanOrEqualTo(350);
    }
    assertThat(p.toxics().getAll())
        .singleElement()
        .satisfies(t -> assertThat(t.getName()).isEqualTo("thin"));
  }

  @Test
  void limitDataClosesAfterTheLimit() throws IOException {
    Proxy p = proxy("limit");
    p.toxics().limitData("ten", ToxicDirection.DOWNSTREAM, 10);
    try (Socket s = connect(p)) {
      s.getOutputStream().write(new byte[100]);
      s.getOutputStream().flush();
      assertThat(readToEnd(s.getInputStream())).hasSize(10);
    }
  }

  @Test
  void timeoutDropsDataThenCloses() throws IOException {
    Proxy p = proxy("to");
    p.toxics().timeout("drop", ToxicDirection.UPSTREAM, 300);
    try (Socket s = connect(p)) {
      long t0 = System.nanoTime();
      s.getOutputStream().write("lost".getBytes(StandardCharsets.US_ASCII));
      s.getOutputStream().flush();
      byte[] got = readToEnd(s.getInputStream());
      assertThat(got).isEmpty();
      assertThat(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0)).isGreaterThanOrEqualTo(300);
    }
  }

  @Test
  void resetPeerResetsTheConnection() throws IOException {
    Proxy p = proxy("rst");
    p.toxics().resetPeer("cut", ToxicDirection.UPSTREAM, 0);
    try (Socket s = connect(p)) {
      s.getOutputStream().write("boom".getBytes(StandardCharsets.US_ASCII));
      s.getOutputStream().flush();
      assertThatThrownBy(() -> s.getInputStream().read()).isInstanceOf(SocketException.class);
    }
  }

  @Test
  void slowCloseHoldsTheClose() throws IOException {
    Proxy p = proxy("sc");
    p.toxics().slowClose("hold", ToxicDirection.DOWNSTREAM, 300);
    try (Socket s = connect(p)) {
      roundTripMillis(s, new byte[] {9});
      long t0 = System.nanoTime();
      s.shutdownOutput(); // the echo server closes its side in turn
      assertThat(s.getInputStream().read()).isEqualTo(-1);
      assertThat(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0)).isGreaterThanOrEqualTo(300);
    }
  }

  @Test
  void slicerDeliversEveryByteInOrder() throws IOException {
    Proxy p = proxy("sl");
    p.toxics().slicer("bits", ToxicDirection.DOWNSTREAM, 16, 2000); // 2 ms between slices
    byte[] msg = new byte[400];
    for (int i = 0; i < msg.length; i++) {
      msg[i] = (byte) i;
    }
    try (Socket s = connect(p)) {
      // 25 slices of 16 bytes, 2 ms apart
      assertThat(roundTripMillis(s, msg)).isGreaterThanOrEqualTo(40);
    }
  }

  @Test
  void disableRefusesConnectionsAndEnableRestoresThem() throws IOException {
    Proxy p = proxy("updown");
    p.disable();
    assertThat(client.getProxy("updown").isEnabled()).isFalse();
    assertThatThrownBy(() -> connect(p).close()).isInstanceOf(ConnectException.class);
    p.enable();
    try (Socket s = connect(p)) {
      roundTripMillis(s, new byte[] {7});
    }
  }

  @Test
  void resetEnablesEveryProxyAndRemovesEveryToxic() throws IOException {
    Proxy p = proxy("r");
    p.toxics().latency("slow", ToxicDirection.UPSTREAM, 1000);
    p.disable();
    client.reset();
    Proxy now = client.getProxy("r");
    assertThat(now.isEnabled()).isTrue();
    assertThat(now.toxics().getAll()).isEmpty();
    try (Socket s = connect(now)) {
      assertThat(roundTripMillis(s, new byte[] {1})).isLessThan(1000);
    }
  }

  @Test
  void changingTheUpstreamMovesNewConnections() throws IOException {
    Proxy p = proxy("move");
    try (EchoServer other = EchoServer.named("other")) {
      p.setUpstream("127.0.0.1:" + other.port());
      assertThat(client.getProxy("move").getUpstream()).isEqualTo("127.0.0.1:" + other.port());
      try (Socket s = connect(client.getProxy("move"))) {
        byte[] greeting = s.getInputStream().readNBytes(6);
        assertThat(new String(greeting, StandardCharsets.US_ASCII)).isEqualTo("other\n");
      }
    }
  }

  @Test
  void errorsComeWithToxiproxysStatusesAndReasons() throws IOException {
    Proxy p = proxy("dup");
    assertThatThrownBy(() -> proxy("dup"))
        .isInstanceOf(IOException.class)
        .hasMessageContaining("[409] proxy already exists");
    assertThatThrownBy(() -> client.getProxy("nope"))
        .isInstanceOf(IOException.class)
        .hasMessageContaining("[404] proxy not found");
    p.toxics().latency("l", ToxicDirection.DOWNSTREAM, 10);
    assertThatThrownBy(() -> p.toxics().latency("l", ToxicDirection.DOWNSTREAM, 10))
        .isInstanceOf(IOException.class)
        .hasMessageContaining("[409] toxic already exists");
    assertThatThrownBy(() -> p.toxics().get("missing"))
        .isInstanceOf(IOException.class)
        .hasMessageContaining("[404] toxic not found");
    p.delete();
    assertThat(client.getProxies()).isEmpty();
  }
}
