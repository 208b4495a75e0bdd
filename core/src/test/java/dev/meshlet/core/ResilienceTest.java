package dev.meshlet.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.meshlet.core.internal.Admission;
import dev.meshlet.core.internal.Lease;
import dev.meshlet.core.internal.Permit;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@Timeout(value = 60, unit = TimeUnit.SECONDS)
class ResilienceTest {

  /** A clock the test moves by hand. */
  static final class ManualTicker implements Ticker {
    private final AtomicLong now = new AtomicLong(1_000_000_000L);

    @Override
    public long nanoTime() {
      return now.get();
    }

    void advance(Duration d) {
      now.addAndGet(d.toNanos());
    }
  }

  private static Cluster.Builder threeBackends() {
    return Cluster.builder("c")
        .backends(
            Backend.of("127.0.0.1", 9001).withName("a"),
            Backend.of("127.0.0.1", 9002).withName("b"),
            Backend.of("127.0.0.1", 9003).withName("c"));
  }

  /** A connection or request to {@code e} that fails. */
  private static void fail(Endpoint e) {
    try (Lease lease = Lease.begin(e)) {
      lease.failed();
    }
  }

  /** A connection or request to {@code e} that succeeds. */
  private static void succeed(Endpoint e) {
    try (Lease lease = Lease.begin(e)) {
      lease.succeeded();
    }
  }

  private static void awaitTrue(String what, BooleanSupplier condition) {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (!condition.getAsBoolean()) {
      if (System.nanoTime() > deadline) {
        throw new AssertionError("timed out waiting for " + what);
      }
      LockSupport.parkNanos(5_000_000);
    }
  }

  @Test
  void consecutiveFailuresEjectForAGrowingCappedTime() {
    ManualTicker ticker = new ManualTicker();
    Cluster c =
        threeBackends()
            .ticker(ticker)
            .outlierDetection(
                OutlierDetection.consecutiveFailures(3)
                    .withEjectionTime(Duration.ofSeconds(10), Duration.ofSeconds(15)))
            .build();
    Endpoint a = c.endpoints().get(0);
    fail(a);
    fail(a);
    succeed(a); // a success breaks the streak
    fail(a);
    fail(a);
    assertThat(a.ejected()).isFalse();
    fail(a);
    assertThat(a.ejected()).isTrue();
    assertThat(c.available()).extracting(e -> e.backend().displayName()).containsExactly("b", "c");
    for (int i = 0; i < 100; i++) {
      assertThat(c.pick(i)).isNotSameAs(a);
    }
    ticker.advance(Duration.ofSeconds(10));
    assertThat(c.pick(0)).isNotNull();
    assertThat(a.ejected()).isFalse();
    assertThat(c.available()).contains(a);

    for (int i = 0; i < 3; i++) {
      fail(a);
    }
    ticker.advance(Duration.ofSeconds(10)); // second ejection lasts 2 × 10 s, capped at 15 s
    assertThat(c.available()).doesNotContain(a);
    ticker.advance(Duration.ofSeconds(5));
    assertThat(c.available()).contains(a);
    assertThat(a.stats().ejections()).isEqualTo(2);
    assertThat(c.stats().ejections()).isEqualTo(2);
  }

  @Test
  void maxEjectionPercentKeepsBackendsInService() {
    Cluster c =
        threeBackends()
            .outlierDetection(OutlierDetection.consecutiveFailures(1).withMaxEjectionPercent(50))
            .build();
    fail(c.endpoints().get(0));
    fail(c.endpoints().get(1)); // 50% of 3 is 1: no second ejection
    assertThat(c.endpoints()).extracting(Endpoint::ejected).containsExactly(true, false, false);
  }

  @Test
  void panicUsesAllOrRefusesAsConfigured() {
    Cluster useAll =
        threeBackends()
            .outlierDetection(OutlierDetection.consecutiveFailures(1).withMaxEjectionPercent(100))
            .build();
    Cluster refuse =
        threeBackends()
            .outlierDetection(OutlierDetection.consecutiveFailures(1).withMaxEjectionPercent(100))
            .whenNoneAvailable(Cluster.NoneAvailable.REFUSE)
            .build();
    for (Cluster c : new Cluster[] {useAll, refuse}) {
      for (Endpoint e : c.endpoints()) {
        fail(e);
      }
    }
    assertThat(useAll.pick(1)).isNotNull();
    assertThat(useAll.stats().panic()).isTrue();
    assertThat(refuse.pick(1)).isNull();
    assertThat(refuse.stats().panic()).isFalse();
    assertThat(refuse.stats().available()).isZero();
  }

  @Test
  void slowStartRampsANewBackendsShare() {
    ManualTicker ticker = new ManualTicker();
    Cluster c =
        Cluster.builder("c")
            .ticker(ticker)
            .balancer(Balancer.weightedRoundRobin())
            .slowStart(Duration.ofSeconds(10))
            .backends(Backend.of("127.0.0.1", 9001).withName("old"))
            .build();
    c.add(Backend.of("127.0.0.1", 9002).withName("new"));
    assertThat(share(c, "new")).isBetween(0.08, 0.10); // 10% weight: 10 / 110
    ticker.advance(Duration.ofSeconds(5));
    assertThat(share(c, "new")).isBetween(0.32, 0.34); // 50%: 50 / 150
    ticker.advance(Duration.ofSeconds(5));
    assertThat(share(c, "new")).isEqualTo(0.5);
    assertThat(c.endpoints().get(1).stats().weight()).isEqualTo(100);
  }

  private static double share(Cluster c, String name) {
    Map<String, Integer> n = new HashMap<>();
    int picks = 11_000;
    for (int i = 0; i < picks; i++) {
      n.merge(c.pick(i).backend().displayName(), 1, Integer::sum);
    }
    return n.getOrDefault(name, 0) / (double) picks;
  }

  @Test
  void circuitBreakerRefusesOverflowAndCountsIt() {
    Cluster c = threeBackends().maxActive(2).build();
    Permit first = Admission.tryEnter(c);
    assertThat(first).isNotNull();
    assertThat(Admission.tryEnter(c)).isNotNull();
    assertThat(Admission.tryEnter(c)).isNull();
    assertThat(c.stats().overflows()).isEqualTo(1);
    first.close();
    assertThat(Admission.tryEnter(c)).isNotNull();
    assertThat(c.stats().active()).isEqualTo(2);
  }

  @Test
  void pendingLimitAndRetryBudgetAreCountedPerCluster() {
    Cluster c = threeBackends().maxPending(1).build();
    Permit waiting = Admission.tryEnterPending(c);
    assertThat(waiting).isNotNull();
    assertThat(Admission.tryEnterPending(c)).isNull();
    waiting.close();
    assertThat(Admission.tryEnterPending(c)).isNotNull();
    assertThat(c.stats().pending()).isEqualTo(1);
    assertThat(c.stats().pendingOverflows()).isEqualTo(1);

    // budget: 50 % of 4 requests in flight = 2 retries, at least 1
    for (int i = 0; i < 4; i++) {
      assertThat(Admission.tryEnter(c)).isNotNull();
    }
    List<Permit> retries = new ArrayList<>();
    retries.add(Admission.tryEnterRetry(c, 50, 1));
    retries.add(Admission.tryEnterRetry(c, 50, 1));
    assertThat(retries).doesNotContainNull();
    assertThat(Admission.tryEnterRetry(c, 50, 1)).isNull();
    retries.add(Admission.enterRetry(c)); // a stale-connection retry is not limited, but it counts
    assertThat(c.stats().retriesActive()).isEqualTo(3);
    assertThat(c.stats().retryOverflows()).isEqualTo(1);
    for (Permit p : retries) {
      p.close();
    }
    assertThat(Admission.tryEnterRetry(c, 0, 1))
        .as("the minimum applies however few are in flight")
        .isNotNull();
    assertThat(c.stats().backends()).hasSize(3);
  }

  @Test
  void tcpHealthCheckTakesADeadBackendOutAndBringsItBack() throws Exception {
    InetAddress lo = InetAddress.getLoopbackAddress();
    ServerSocket a = new ServerSocket(0, 50, lo);
    int aPort = a.getLocalPort();
    try (ServerSocket b = new ServerSocket(0, 50, lo);
        Cluster c =
            Cluster.builder("hc")
                .backends(Backend.of("127.0.0.1", aPort), Backend.of("127.0.0.1", b.getLocalPort()))
                .healthCheck(
                    HealthCheck.tcp()
                        .withInterval(Duration.ofMillis(20))
                        .withTimeout(Duration.ofMillis(500))
                        .withThresholds(2, 2))
                .build()) {
      Endpoint ea = c.endpoints().get(0);
      assertThat(c.available()).hasSize(2);
      a.close();
      awaitTrue("a out of the balancer", () -> c.available().size() == 1);
      assertThat(ea.healthy()).isFalse();
      assertThat(c.available())
          .extracting(e -> e.backend().port())
          .containsExactly(b.getLocalPort());
      for (int i = 0; i < 20; i++) {
        assertThat(c.pick(i)).isNotSameAs(ea);
      }
      try (ServerSocket again = new ServerSocket()) {
        again.setReuseAddress(true);
        again.bind(new InetSocketAddress(lo, aPort), 50);
        awaitTrue("a back in the balancer", () -> c.available().size() == 2);
        assertThat(ea.healthy()).isTrue();
      }
    } finally {
      a.close();
    }
  }

  @Test
  void aProbeThatHangsPastItsTimeoutCountsAsFailed() throws Exception {
    try (Cluster c =
        Cluster.builder("slow")
            .backends(Backend.of("127.0.0.1", 9001))
            .healthCheck(
                HealthCheck.of(
                        (e, timeout) -> {
                          Thread.sleep(60_000); // the checker must not wait for this
                          return true;
                        })
                    .withInterval(Duration.ofMillis(10))
                    .withTimeout(Duration.ofMillis(30))
                    .withThresholds(1, 1))
            .build()) {
      awaitTrue("unhealthy", () -> !c.endpoints().get(0).healthy());
    }
  }

  @Test
  void closeStopsTheHealthCheckThreads() {
    Cluster c =
        threeBackends().healthCheck(HealthCheck.tcp().withInterval(Duration.ofMillis(10))).build();
    c.close();
    c.close();
    assertThat(c.pick(0)).isNotNull(); // picks keep working
  }

  @Test
  void badPoliciesSayWhatToFix() {
    assertThatThrownBy(() -> OutlierDetection.consecutiveFailures(0))
        .hasMessageContaining("consecutiveFailures: 0");
    assertThatThrownBy(() -> OutlierDetection.consecutiveFailures(1).withMaxEjectionPercent(101))
        .hasMessageContaining("maxEjectionPercent: 101");
    assertThatThrownBy(
            () ->
                OutlierDetection.consecutiveFailures(1)
                    .withEjectionTime(Duration.ofSeconds(10), Duration.ofSeconds(1)))
        .hasMessageContaining("maxEjectionTime");
    assertThatThrownBy(() -> HealthCheck.tcp().withInterval(Duration.ZERO))
        .hasMessage("interval: PT0S (expected: > 0)");
    assertThatThrownBy(() -> HealthCheck.tcp().withThresholds(0, 1))
        .hasMessageContaining("healthyThreshold: 0");
    assertThatThrownBy(() -> Cluster.builder("x").slowStart(Duration.ofSeconds(-1)))
        .hasMessageContaining("slowStart");
    assertThatThrownBy(() -> Cluster.builder("x").maxActive(0))
        .hasMessageContaining("maxActive: 0");
  }
}
