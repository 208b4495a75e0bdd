package dev.meshlet.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import com.sun.management.ThreadMXBean;
import dev.meshlet.core.internal.Lease;
import java.lang.management.ManagementFactory;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class BalancerTest {

  private static Cluster cluster(Balancer balancer, int... weights) {
    Cluster.Builder b = Cluster.builder("test").balancer(balancer);
    for (int i = 0; i < weights.length; i++) {
      b.backends(Backend.of("127.0.0.1", 9001 + i).withName("b" + i).withWeight(weights[i]));
    }
    return b.build();
  }

  private static Map<String, Integer> counts(Cluster c, int picks) {
    Map<String, Integer> counts = new HashMap<>();
    for (int i = 0; i < picks; i++) {
      counts.merge(c.pick(i).backend().displayName(), 1, Integer::sum);
    }
    return counts;
  }

  @Test
  void roundRobinIsExact() {
    Cluster c = cluster(Balancer.roundRobin(), 1, 1, 1);
    List<String> order = new ArrayList<>();
    for (int i = 0; i < 9; i++) {
      order.add(c.pick(0).backend().displayName());
    }
    assertThat(order).containsExactly("b0", "b1", "b2", "b0", "b1", "b2", "b0", "b1", "b2");
  }

  @Test
  void smoothWeightedRoundRobinInterleavesLikeNginx() {
    Cluster c = cluster(Balancer.weightedRoundRobin(), 5, 1, 1);
    List<String> order = new ArrayList<>();
    for (int i = 0; i < 14; i++) {
      order.add(c.pick(0).backend().displayName());
    }
    // nginx's documented sequence for weights 5,1,1: a a b a c a a
    assertThat(order)
        .containsExactly(
            "b0", "b0", "b1", "b0", "b2", "b0", "b0", "b0", "b0", "b1", "b0", "b2", "b0", "b0");
  }

  @Test
  void smoothWeightedRoundRobinGivesExactSharesPerCycle() {
    Cluster c = cluster(Balancer.weightedRoundRobin(), 3, 2, 1);
    assertThat(counts(c, 600))
        .containsEntry("b0", 300)
        .containsEntry("b1", 200)
        .containsEntry("b2", 100);
  }

  @Test
  void randomFollowsWeightsWithinTolerance() {
    Cluster c = cluster(Balancer.random(), 1, 3);
    int n = 100_000;
    Map<String, Integer> counts = counts(c, n);
    // expected 25% / 75%; 6 standard deviations of a binomial(100000, 0.25) are ~0.8%
    assertThat(counts.get("b0") / (double) n).isCloseTo(0.25, within(0.01));
    assertThat(counts.get("b1") / (double) n).isCloseTo(0.75, within(0.01));
  }

  @Test
  void leastConnectionsSteersAwayFromBusyEndpoint() {
    Cluster c = cluster(Balancer.leastConnections(), 1, 1, 1);
    Endpoint busy = c.endpoints().get(0);
    List<Lease> held = new ArrayList<>();
    for (int i = 0; i < 100; i++) {
      held.add(Lease.begin(busy));
    }
    int toBusy = 0;
    for (int i = 0; i < 10_000; i++) {
      if (c.pick(i) == busy) {
        toBusy++;
      }
    }
    assertThat(toBusy).isZero();
    // and with load equal again, it gets its share back
    for (Lease lease : held) {
      lease.close();
    }
    assertThat(counts(c, 30_000).get("b0")).isBetween(8_000, 12_000);
  }

  @Test
  void leastConnectionsBalancesLiveLoad() {
    Cluster c = cluster(Balancer.leastConnections(), 1, 1, 1, 1);
    for (int i = 0; i < 400; i++) {
      Lease.pick(c, i); // connections that stay open
    }
    for (Endpoint e : c.endpoints()) {
      assertThat(e.active()).isBetween(90, 110);
    }
  }

  @Test
  void consistentHashIsStableAndMovesOnlyTheRemovedBackendsKeys() {
    Cluster c = cluster(Balancer.consistentHash(), 1, 1, 1, 1, 1);
    int keys = 20_000;
    Endpoint[] before = new Endpoint[keys];
    for (int k = 0; k < keys; k++) {
      before[k] = c.pick(k);
      assertThat(c.pick(k)).isSameAs(before[k]);
    }
    Map<String, Integer> share = new HashMap<>();
    for (Endpoint e : before) {
      share.merge(e.backend().displayName(), 1, Integer::sum);
    }
    assertThat(share.values())
        .allSatisfy(n -> assertThat(n).isBetween(keys / 5 * 7 / 10, keys / 5 * 13 / 10));

    Endpoint removed = c.endpoints().get(2);
    c.remove(removed.backend());
    int moved = 0;
    for (int k = 0; k < keys; k++) {
      Endpoint now = c.pick(k);
      assertThat(now).isNotSameAs(removed);
      if (now != before[k]) {
        moved++;
        assertThat(before[k]).isSameAs(removed); // only the removed backend's keys move
      }
    }
    assertThat(moved / (double) keys).isCloseTo(0.2, within(0.06));
  }

  @Test
  void consistentHashRetryPrefersAnotherEndpoint() {
    Cluster c = cluster(Balancer.consistentHash(), 1, 1, 1);
    for (int k = 0; k < 100; k++) {
      Endpoint first = c.pick(k);
      assertThat(c.pick(k, 1, first)).isNotSameAs(first);
    }
  }

  @Test
  void picksAllocateNothing() {
    ThreadMXBean threads = (ThreadMXBean) ManagementFactory.getThreadMXBean();
    assertThat(threads.isThreadAllocatedMemorySupported()).isTrue();
    threads.setThreadAllocatedMemoryEnabled(true);
    int picks = 100_000;
    List<Balancer> balancers =
        List.of(
            Balancer.roundRobin(),
            Balancer.random(),
            Balancer.weightedRoundRobin(),
            Balancer.leastConnections(),
            Balancer.consistentHash());
    List<Cluster> clusters = new ArrayList<>();
    for (Balancer b : balancers) {
      clusters.add(cluster(b, 1, 2, 3, 4));
      Cluster.Builder seeded =
          Cluster.builder("seeded").balancer(b).seed(42); // draws from Mix, not ThreadLocalRandom
      for (int i = 0; i < 4; i++) {
        seeded.backends(Backend.of("127.0.0.1", 9001 + i).withWeight(i + 1));
      }
      clusters.add(seeded.build());
    }
    for (Cluster c : clusters) {
      Balancer b = c.balancer();
      long sink = 0;
      for (int i = 0; i < 20_000; i++) { // warm up: class loading and first calls may allocate once
        sink += c.pick(i).backend().port();
      }
      long before = threads.getCurrentThreadAllocatedBytes();
      for (int i = 0; i < picks; i++) {
        sink += c.pick(i).backend().port();
      }
      long allocated = threads.getCurrentThreadAllocatedBytes() - before;
      assertThat(sink).isPositive();
      // one object per pick would be >= 1.6 MB; allow a few stray bytes, not one per pick
      assertThat(allocated)
          .as(c.name() + " " + b + ": bytes allocated by " + picks + " picks")
          .isLessThan(picks / 10);
    }
  }

  @Test
  void retryPicksAvoidThePreviousEndpoint() {
    for (Balancer b :
        List.of(Balancer.random(), Balancer.leastConnections(), Balancer.roundRobin())) {
      Cluster c = cluster(b, 1, 1);
      for (int i = 0; i < 1000; i++) {
        Endpoint first = c.pick(i);
        assertThat(c.pick(i, 1, first)).as(b.toString()).isNotSameAs(first);
      }
    }
  }
}
