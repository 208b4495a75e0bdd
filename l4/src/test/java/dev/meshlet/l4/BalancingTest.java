package dev.meshlet.l4;

import static org.assertj.core.api.Assertions.assertThat;

import dev.meshlet.core.Backend;
import dev.meshlet.core.Balancer;
import dev.meshlet.core.Cluster;
import dev.meshlet.core.Endpoint;
import dev.meshlet.testkit.Await;
import dev.meshlet.testkit.EchoServer;
import dev.meshlet.testkit.Resources;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.AutoClose;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Which backend each connection goes to, and what happens when none can be reached. */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class BalancingTest {
  private static final InetAddress LOOPBACK = InetAddress.getLoopbackAddress();
  @AutoClose private final Resources resources = new Resources();

  private EchoServer echo() {
    return resources.track(EchoServer.start());
  }

  private static Backend backend(EchoServer s) {
    return Backend.of("127.0.0.1", s.port());
  }

  private TcpProxyBuilder proxyTo(EchoServer... servers) {
    TcpProxyBuilder b = TcpProxy.builder().listen("127.0.0.1", 0);
    for (EchoServer s : servers) {
      b.backends(backend(s));
    }
    return b;
  }

  private TcpProxy start(TcpProxyBuilder b) throws IOException {
    return resources.track(b.start());
  }

  private Socket connect(TcpProxy proxy) throws IOException {
    Socket s = resources.track(new Socket(LOOPBACK, proxy.port()));
    s.setSoTimeout(10_000);
    return s;
  }

  private static String readLine(Socket s) throws IOException {
    StringBuilder line = new StringBuilder();
    InputStream in = s.getInputStream();
    int c;
    while ((c = in.read()) != -1 && c != '\n') {
      line.append((char) c);
    }
    return line.toString();
  }

  @Test
  void roundRobinIsExactOverThreeBackends() throws Exception {
    EchoServer a = resources.track(EchoServer.named("a"));
    EchoServer b = resources.track(EchoServer.named("b"));
    EchoServer c = resources.track(EchoServer.named("c"));
    TcpProxy proxy = start(proxyTo(a, b, c).balancer(Balancer.roundRobin()));
    List<String> seen = new ArrayList<>();
    for (int i = 0; i < 9; i++) {
      try (Socket s = connect(proxy)) {
        seen.add(readLine(s));
      }
    }
    assertThat(seen).containsExactly("a", "b", "c", "a", "b", "c", "a", "b", "c");
  }

  @Test
  void weightedRoundRobinSplitsByWeight() throws Exception {
    EchoServer a = resources.track(EchoServer.named("a"));
    EchoServer b = resources.track(EchoServer.named("b"));
    TcpProxy proxy =
        start(
            TcpProxy.builder()
                .listen("127.0.0.1", 0)
                .backends(backend(a).withWeight(3), backend(b))
                .balancer(Balancer.weightedRoundRobin()));
    Map<String, Integer> counts = new HashMap<>();
    for (int i = 0; i < 40; i++) {
      try (Socket s = connect(proxy)) {
        counts.merge(readLine(s), 1, Integer::sum);
      }
    }
    // smooth weighted round robin is exact per cycle of 4: tolerance zero
    assertThat(counts).containsEntry("a", 30).containsEntry("b", 10);
  }

  @Test
  void leastConnectionsSteersNewConnectionsAwayFromABusyBackend() throws Exception {
    EchoServer a = resources.track(EchoServer.named("a"));
    EchoServer b = resources.track(EchoServer.named("b"));
    Cluster cluster =
        Cluster.builder("lc").backends(backend(a)).balancer(Balancer.leastConnections()).build();
    TcpProxy proxy = start(TcpProxy.builder().listen("127.0.0.1", 0).cluster(cluster));
    for (int i = 0; i < 10; i++) { // a now holds 10 open connections
      assertThat(readLine(connect(proxy))).isEqualTo("a");
    }
    cluster.add(backend(b));
    for (int i = 0; i < 10; i++) { // every new one goes to b until b holds as many
      assertThat(readLine(connect(proxy))).isEqualTo("b");
    }
    assertThat(cluster.endpoints()).extracting(Endpoint::active).containsExactly(10, 10);
  }

  @Test
  void consistentHashKeepsClientsOnTheirBackendAndMovesOnlyTheRemovedOnes() throws Exception {
    List<EchoServer> servers = new ArrayList<>();
    Cluster.Builder cb = Cluster.builder("hash").balancer(Balancer.consistentHash());
    for (int i = 0; i < 4; i++) {
      EchoServer s = resources.track(EchoServer.named("s" + i));
      servers.add(s);
      cb.backends(backend(s));
    }
    Cluster cluster = cb.build();
    TcpProxy proxy = start(TcpProxy.builder().listen("127.0.0.1", 0).cluster(cluster));
    int clients = 200;
    String[] before = new String[clients];
    for (int i = 0; i < clients; i++) {
      before[i] = nameFrom(proxy, i);
      assertThat(nameFrom(proxy, i)).isEqualTo(before[i]); // same client address, same backend
    }
    assertThat(new HashSet<>(List.of(before))).hasSize(4);
    cluster.remove(backend(servers.get(1)));
    int moved = 0;
    for (int i = 0; i < clients; i++) {
      String now = nameFrom(proxy, i);
      if (!now.equals(before[i])) {
        moved++;
        assertThat(before[i]).isEqualTo("s1");
      }
    }
    // exactly s1's clients move: about a quarter of them
    assertThat(moved).isBetween(clients / 4 / 2, clients / 4 * 2);
  }

  /**
   * Connects from 127.0.0.(2 + i) so each client has its own address, and reads the backend name.
   */
  private String nameFrom(TcpProxy proxy, int i) throws IOException {
    try (Socket s = new Socket()) {
      s.bind(
          new InetSocketAddress(
              InetAddress.getByAddress(new byte[] {127, 0, (byte) (i / 250), (byte) (2 + i % 250)}),
              0));
      s.connect(new InetSocketAddress(LOOPBACK, proxy.port()), 5_000);
      s.setSoTimeout(10_000);
      return readLine(s);
    }
  }

  @Test
  void deadBackendIsSkippedOnConnectFailure() throws Exception {
    int deadPort;
    try (ServerSocket s = new ServerSocket(0, 1, LOOPBACK)) {
      deadPort = s.getLocalPort();
    }
    EchoServer live = resources.track(EchoServer.named("live"));
    TcpProxy proxy =
        start(
            TcpProxy.builder()
                .listen("127.0.0.1", 0)
                .backends(Backend.of("127.0.0.1", deadPort), backend(live))
                .connectAttempts(2));
    for (int i = 0; i < 6; i++) {
      try (Socket s = connect(proxy)) {
        assertThat(readLine(s)).isEqualTo("live");
      }
    }
    // round robin hands every new connection the dead backend first (no outlier ejection here),
    // so each of the 6 connections fails once and succeeds on its second attempt
    assertThat(proxy.stats().connectFailures()).isEqualTo(6);
    assertThat(proxy.cluster().endpoints().get(0).stats().failures()).isEqualTo(6);
    assertThat(proxy.cluster().endpoints().get(1).stats().total()).isEqualTo(6);
    // an attempt counts on its endpoint from before its connect; a failed one is no longer in
    // flight
    assertThat(proxy.cluster().endpoints().get(0).stats().total()).isEqualTo(6);
    assertThat(proxy.cluster().endpoints().get(0).active()).isZero();
    Await.until(
        "the live backend's connections released",
        () -> proxy.cluster().endpoints().get(1).active() == 0);
  }

  @Test
  void theProxysSeedReplaysARandomClusterWithoutASeedOfItsOwn() throws Exception {
    EchoServer a = resources.track(EchoServer.named("a"));
    EchoServer b = resources.track(EchoServer.named("b"));
    EchoServer c = resources.track(EchoServer.named("c"));
    List<String> first = randomPicks(7L, null, a, b, c);
    List<String> second = randomPicks(7L, null, a, b, c);
    assertThat(first).hasSize(50).containsAll(List.of("a", "b", "c")); // random, not one backend
    assertThat(second).isEqualTo(first);
    assertThat(randomPicks(8L, null, a, b, c)).isNotEqualTo(first); // the seed decides
    // a cluster's own seed wins over the proxy's
    assertThat(randomPicks(1L, 99L, a, b, c)).isEqualTo(randomPicks(2L, 99L, a, b, c));
  }

  /** The backends 50 connections in a row reach through a new proxy seeded {@code proxySeed}. */
  private List<String> randomPicks(
      long proxySeed, @Nullable Long clusterSeed, EchoServer... servers) throws IOException {
    Cluster.Builder cb = Cluster.builder("random-" + proxySeed).balancer(Balancer.random());
    for (EchoServer s : servers) {
      cb.backends(backend(s));
    }
    if (clusterSeed != null) {
      cb.seed(clusterSeed);
    }
    Cluster cluster = resources.track(cb.build());
    TcpProxy proxy =
        start(TcpProxy.builder().listen("127.0.0.1", 0).cluster(cluster).seed(proxySeed));
    List<String> seen = new ArrayList<>();
    for (int i = 0; i < 50; i++) {
      try (Socket s = connect(proxy)) {
        seen.add(readLine(s));
      }
    }
    return seen;
  }

  @Test
  void allBackendsDeadClosesTheClientQuickly() throws Exception {
    int deadPort;
    try (ServerSocket s = new ServerSocket(0, 1, LOOPBACK)) {
      deadPort = s.getLocalPort();
    }
    TcpProxy proxy =
        start(
            TcpProxy.builder().listen("127.0.0.1", 0).backends(Backend.of("127.0.0.1", deadPort)));
    Socket client = connect(proxy);
    long t0 = System.nanoTime();
    assertThat(client.getInputStream().read()).isEqualTo(-1);
    assertThat(Duration.ofNanos(System.nanoTime() - t0)).isLessThan(Duration.ofSeconds(5));
    Await.until("no-backend counted", () -> proxy.stats().noBackend() == 1);
    Await.until(
        "connection released", () -> proxy.stats().active() == 0); // counted just before release
    assertThat(proxy.cluster().endpoints().get(0).active())
        .isZero(); // the failed attempt's lease is closed
    assertThat(proxy.cluster().endpoints().get(0).stats().failures()).isEqualTo(1);
  }

  /**
   * 300 ms, and a timeout that rounds down to 0 ms, which must not become Socket.connect's "no
   * timeout".
   */
  @ParameterizedTest
  @ValueSource(longs = {300_000_000L, 500_000L})
  void connectTimeoutToABlackholedBackend(long timeoutNanos) throws Exception {
    // a listener whose backlog is full and never accepts: further connects hang in SYN-SENT
    try (ServerSocket full = new ServerSocket(0, 1, LOOPBACK)) {
      List<Socket> fillers = new ArrayList<>();
      TcpProxy proxy =
          start(
              TcpProxy.builder()
                  .listen("127.0.0.1", 0)
                  .backends(Backend.of("127.0.0.1", full.getLocalPort()))
                  .connectTimeout(Duration.ofNanos(timeoutNanos)));
      for (int i = 0; i < 8; i++) { // fill the accept queue
        Socket f = new Socket();
        try {
          f.connect(full.getLocalSocketAddress(), 200);
          fillers.add(f);
        } catch (IOException e) {
          f.close();
        }
      }
      try {
        Socket client = connect(proxy);
        assertThat(client.getInputStream().read()).isEqualTo(-1);
        Await.until("no-backend counted", () -> proxy.stats().noBackend() == 1);
      } finally {
        for (Socket f : fillers) {
          f.close();
        }
      }
    }
  }
}
