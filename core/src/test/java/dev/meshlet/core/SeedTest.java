package dev.meshlet.core;

import static org.assertj.core.api.Assertions.assertThat;

import dev.meshlet.core.internal.Lease;
import dev.meshlet.core.internal.Mix;
import dev.meshlet.core.internal.Seeds;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class SeedTest {

  private static Cluster cluster(Balancer balancer, Cluster.Builder b) {
    for (int i = 0; i < 5; i++) {
      b.backends(Backend.of("127.0.0.1", 9001 + i).withName("b" + i).withWeight(i + 1));
    }
    return b.balancer(balancer).build();
  }

  /**
   * 1,000 picks; least connections holds every fourth pick open so that its choices depend on the
   * load its earlier picks left.
   */
  private static List<String> picks(Cluster c) {
    List<String> out = new ArrayList<>();
    for (int i = 0; i < 1000; i++) {
      Endpoint e = c.pick(i);
      out.add(e.backend().displayName());
      if (i % 4 == 0) {
        Lease.begin(e); // stays open
      }
    }
    return out;
  }

  @Test
  void theSameSeedReplaysTheSamePicksAndAnotherSeedDoesNot() {
    for (Balancer b : List.of(Balancer.random(), Balancer.leastConnections())) {
      List<String> first = picks(cluster(b, Cluster.builder("a").seed(42)));
      List<String> again = picks(cluster(b, Cluster.builder("b").seed(42)));
      List<String> other = picks(cluster(b, Cluster.builder("c").seed(43)));
      assertThat(again).as(b + ", same seed").isEqualTo(first);
      assertThat(other).as(b + ", another seed").isNotEqualTo(first);
      assertThat(first).as(b + " still spreads").contains("b0", "b1", "b2", "b3", "b4");
    }
  }

  @Test
  void unseededClustersDoNotRepeatEachOther() {
    List<String> a = picks(cluster(Balancer.random(), Cluster.builder("a")));
    List<String> b = picks(cluster(Balancer.random(), Cluster.builder("b")));
    assertThat(a).isNotEqualTo(b);
  }

  @Test
  void aSeededSequenceRunsOnAcrossRebuilds() {
    Backend late = Backend.of("127.0.0.1", 9100).withName("late");
    Cluster a = cluster(Balancer.random(), Cluster.builder("a").seed(7));
    Cluster b = cluster(Balancer.random(), Cluster.builder("b").seed(7));
    Cluster fresh = cluster(Balancer.random(), Cluster.builder("fresh").seed(7));
    assertThat(picks(b)).isEqualTo(picks(a));
    a.add(late); // a rebuild: a new picker over the same draws
    b.add(late);
    fresh.add(late);
    List<String> afterA = picks(a);
    assertThat(picks(b)).isEqualTo(afterA);
    assertThat(picks(fresh))
        .as("a cluster that drew nothing yet starts the sequence over")
        .isNotEqualTo(afterA);
  }

  @Test
  void aProxySeedIsTakenOnlyByClustersWithoutOne() {
    Cluster unseeded = cluster(Balancer.random(), Cluster.builder("u"));
    Cluster own = cluster(Balancer.random(), Cluster.builder("o").seed(1));
    assertThat(Seeds.offer(unseeded, 42)).isTrue();
    assertThat(Seeds.offer(unseeded, 43)).as("the first offer wins").isFalse();
    assertThat(Seeds.offer(own, 42)).isFalse();
    assertThat(picks(unseeded))
        .isEqualTo(picks(cluster(Balancer.random(), Cluster.builder("s").seed(42))));
    assertThat(picks(own))
        .isEqualTo(picks(cluster(Balancer.random(), Cluster.builder("s").seed(1))));
  }

  @Test
  void mixIsSplitMix64() {
    // SplitMix64's first output for seed 0 is the finaliser of the golden gamma
    assertThat(Mix.mix(0x9E3779B97F4A7C15L)).isEqualTo(0xE220A8397B1DCDAFL);
    // the three-argument draw that l4's toxics and l7's faults make
    assertThat(Mix.mix(42, 7, 3))
        .isEqualTo(
            Mix.mix(Mix.mix(42 ^ Mix.mix(7 + 0x9E3779B97F4A7C15L)) + 3 * 0x9E3779B97F4A7C15L));
    assertThat(Mix.unit(0)).isZero();
    assertThat(Mix.unit(-1L)).isLessThan(1.0).isGreaterThan(0.999);
  }
}
