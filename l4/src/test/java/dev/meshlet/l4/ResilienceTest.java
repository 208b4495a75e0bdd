package dev.meshlet.l4;

import static org.assertj.core.api.Assertions.assertThat;

import dev.meshlet.core.Backend;
import dev.meshlet.core.Cluster;
import dev.meshlet.core.ClusterStats;
import dev.meshlet.core.HealthCheck;
import dev.meshlet.core.OutlierDetection;
import dev.meshlet.testkit.Await;
import dev.meshlet.testkit.EchoServer;
import dev.meshlet.testkit.Resources;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AutoClose;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Health checks, outlier ejection, circuit breaking and live updates, seen through a TCP proxy. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class ResilienceTest {
  private static final InetAddress LOOPBACK = InetAddress.getLoopbackAddress();
  @AutoClose private final Resources resources = new Resources();

  private static Backend backend(EchoServer s) {
    return Backend.of("127.0.0.1", s.port());
  }

  private static int deadPort() throws IOException {
    try (ServerSocket s = new ServerSocket(0, 1, LOOPBACK)) {
      return s.getLocalPort();
    }
  }

  /** Connects through the proxy and reads the backend's name line; "" when the proxy closed. */
  private static String name(TcpProxy proxy) throws IOException {
    try (Socket s = new Socket(LOOPBACK, proxy.port())) {
      s.setSoTimeout(10_000);
      InputStream in = s.getInputStream();
      StringBuilder line = new StringBuilder();
      for (int c; (c = in.read()) != -1 && c != '\n'; ) {
        line.append((char) c);
      }
      return line.toString();
    }
  }

  @Test
  void outlierEjectionStopsTryingADeadBackend() throws Exception {
    EchoServer live = resources.track(EchoServer.named("live"));
    Cluster cluster =
        resources.track(
            Cluster.builder("c")
                .backends(Backend.of("127.0.0.1", deadPort()), backend(live))
                .outlierDetection(OutlierDetection.consecutiveFailures(2))
                .build());
    TcpProxy proxy =
        resources.track(TcpProxy.builder().listen("127.0.0.1", 0).cluster(cluster).start());
    for (int i = 0; i < 10; i++) {
      assertThat(name(proxy)).isEqualTo("live");
    }
    // two failed attempts eject the dead backend; after that no connection tries it
    assertThat(proxy.stats().connectFailures()).isEqualTo(2);
    assertThat(cluster.endpoints().get(0).stats().ejected()).isTrue();
    assertThat(cluster.stats().ejections()).isEqualTo(1);
  }

  @Test
  void killedBackendLeavesTheRotationWithinTheHealthCheckWindowAndClientsSeeNoFailure()
      throws Exception {
    EchoServer a = EchoServer.named("a");
    EchoServer b = resources.track(EchoServer.named("b"));
    Cluster cluster =
        resources.track(
            Cluster.builder("c")
                .backends(backend(a), backend(b))
                .healthCheck(
                    HealthCheck.tcp().withInterval(Duration.ofMillis(25)).withThresholds(1, 2))
                .build());
    TcpProxy proxy =
        resources.track(
            TcpProxy.builder().listen("127.0.0.1", 0).cluster(cluster).connectAttempts(2).start());
    assertThat(List.of(name(proxy), name(proxy))).containsExactlyInAnyOrder("a", "b");
    a.close();
    long killed = System.nanoTime();
    int served = 0;
    while (!cluster.available().equals(List.of(cluster.endpoints().get(1)))) {
      assertThat(name(proxy)).isEqualTo("b"); // connect retries cover the gap
      served++;
      assertThat(System.nanoTime() - killed)
          .as("detection time")
          .isLessThan(TimeUnit.SECONDS.toNanos(10));
    }
    long failuresAtDetection = proxy.stats().connectFailures();
    for (int i = 0; i < 20; i++) {
      assertThat(name(proxy)).isEqualTo("b");
    }
    assertThat(proxy.stats().connectFailures())
        .as("no attempts on the unhealthy backend")
        .isEqualTo(failuresAtDetection);
    assertThat(proxy.stats().noBackend()).isZero();
    ClusterStats cs = proxy.stats().cluster();
    assertThat(cs.backends().keySet())
        .containsExactly("127.0.0.1:" + a.port(), "127.0.0.1:" + b.port());
    assertThat(cs.backends().get("127.0.0.1:" + a.port()).healthy()).isFalse();
    assertThat(cs.backends().get("127.0.0.1:" + b.port()).healthy()).isTrue();
    assertThat(served).isGreaterThanOrEqualTo(0);
  }

  @Test
  void circuitBreakerRefusesOverflowAtOnce() throws Exception {
    EchoServer echo = resources.track(EchoServer.start());
    Cluster cluster = Cluster.builder("c").backends(backend(echo)).maxActive(2).build();
    TcpProxy proxy =
        resources.track(TcpProxy.builder().listen("127.0.0.1", 0).cluster(cluster).start());
    List<Socket> open = new ArrayList<>();
    for (int i = 0; i < 2; i++) {
      Socket s = resources.track(new Socket(LOOPBACK, proxy.port()));
      s.setSoTimeout(10_000);
      s.getOutputStream().write('x');
      assertThat(s.getInputStream().read()).isEqualTo('x');
      open.add(s);
    }
    Socket third = resources.track(new Socket(LOOPBACK, proxy.port()));
    third.setSoTimeout(10_000);
    assertThat(third.getInputStream().read()).isEqualTo(-1);
    assertThat(proxy.stats().overflows()).isEqualTo(1);
    assertThat(cluster.stats().overflows()).isEqualTo(1);
    open.get(0).close();
    assertThat(cluster.stats().active()).isLessThanOrEqualTo(2);
  }

  @Test
  void pendingLimitRefusesConnectionsWhileOthersWaitForTheirBackend() throws Exception {
    // A backend whose accept queue is full: the kernel drops further SYNs, so a connect to it
    // waits.
    ServerSocket stuck = resources.track(new ServerSocket(0, 1, LOOPBACK));
    for (int i = 0; i < 10; i++) {
      Socket fill = resources.track(new Socket());
      try {
        fill.connect(stuck.getLocalSocketAddress(), 300);
      } catch (SocketTimeoutException full) {
        break;
      }
    }
    Cluster cluster =
        Cluster.builder("c")
            .backends(Backend.of("127.0.0.1", stuck.getLocalPort()))
            .maxPending(1)
            .build();
    TcpProxy proxy =
        resources.track(
            TcpProxy.builder()
                .listen("127.0.0.1", 0)
                .cluster(cluster)
                .connectTimeout(Duration.ofSeconds(30))
                .drainTimeout(Duration.ofMillis(100))
                .start());
    Socket waiting = resources.track(new Socket(LOOPBACK, proxy.port()));
    Await.until("one connection waits for its backend", () -> cluster.stats().pending() == 1);
    Socket refused = resources.track(new Socket(LOOPBACK, proxy.port()));
    refused.setSoTimeout(10_000);
    assertThat(refused.getInputStream().read()).isEqualTo(-1);
    assertThat(proxy.stats().overflows()).isEqualTo(1);
    assertThat(cluster.stats().pendingOverflows()).isEqualTo(1);
    assertThat(cluster.stats().pending()).isEqualTo(1);
    proxy.close(); // after the drain deadline the waiting connect is abandoned and its client cut
    waiting.setSoTimeout(10_000);
    int end;
    try {
      end = waiting.getInputStream().read();
    } catch (SocketException reset) {
      end = -1;
    }
    assertThat(end).isEqualTo(-1);
    Await.until("nothing pending", () -> cluster.stats().pending() == 0);
  }

  @Test
  void replacingTheClusterMovesNewConnectionsAndLeavesOpenOnesAlone() throws Exception {
    EchoServer a = resources.track(EchoServer.named("a"));
    EchoServer b = resources.track(EchoServer.named("b"));
    TcpProxy proxy =
        resources.track(TcpProxy.builder().listen("127.0.0.1", 0).backends(backend(a)).start());
    Socket old = resources.track(new Socket(LOOPBACK, proxy.port()));
    old.setSoTimeout(10_000);
    assertThat(new String(old.getInputStream().readNBytes(2))).isEqualTo("a\n");
    Cluster previous = proxy.replaceCluster(Cluster.of("next", backend(b)));
    assertThat(previous.name()).startsWith("l4-");
    assertThat(name(proxy)).isEqualTo("b");
    old.getOutputStream().write("still a\n".getBytes());
    assertThat(new String(old.getInputStream().readNBytes(8))).isEqualTo("still a\n");
  }
}
