package dev.meshlet.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.meshlet.core.internal.Lease;
import java.util.HashSet;
import java.util.Set;
import org.junit.jupiter.api.Test;

class ClusterTest {

  @Test
  void emptyClusterPicksNothing() {
    Cluster c = Cluster.builder("empty").build();
    assertThat(c.pick(1)).isNull();
    assertThat(c.pick(1, 1, null)).isNull();
  }

  @Test
  void addAndRemoveWhileInFlight() {
    Backend a = Backend.of("127.0.0.1", 9001);
    Backend b = Backend.of("127.0.0.1", 9002);
    Cluster c = Cluster.of("web", a);
    Lease lease = Lease.pick(c, 0);
    Endpoint inFlight = lease.endpoint();

    c.add(b);
    Set<Integer> ports = new HashSet<>();
    for (int i = 0; i < 4; i++) {
      ports.add(c.pick(i).backend().port());
    }
    assertThat(ports).containsExactlyInAnyOrder(9001, 9002);

    assertThat(c.remove(Backend.of("127.0.0.1", 9001).withWeight(5)))
        .isTrue(); // matched by address
    assertThat(c.remove(a)).isFalse();
    for (int i = 0; i < 4; i++) {
      assertThat(c.pick(i).backend()).isEqualTo(b);
    }
    // the in-flight connection is undisturbed and still counted
    assertThat(inFlight.stats().active()).isEqualTo(1);
    assertThat(inFlight.inService()).isFalse();
    lease.close();
    assertThat(inFlight.stats().active()).isZero();
    assertThat(inFlight.stats().total()).isEqualTo(1);
  }

  @Test
  void rejectsDuplicatesAndBlankNames() {
    Backend a = Backend.of("127.0.0.1", 9001);
    assertThatThrownBy(() -> Cluster.of("x", a, a))
        .hasMessage("cluster x: backend 127.0.0.1:9001 listed twice");
    assertThatThrownBy(() -> Cluster.of("x", a).add(a))
        .hasMessage("cluster x: backend 127.0.0.1:9001 is already in service");
    assertThatThrownBy(() -> Cluster.builder(" ")).hasMessageContaining("cluster name: blank");
  }

  @Test
  void countersAddUp() {
    Cluster c = Cluster.of("x", Backend.of("127.0.0.1", 9001));
    Endpoint e = c.pick(0);
    try (Lease lease = Lease.begin(e)) {
      lease.bytesIn(10);
      lease.bytesOut(20);
      lease.failed();
    }
    assertThat(e.stats()).isEqualTo(new EndpointStats(0, 1, 1, 10, 20, true, true, false, 0, 1, 0));
  }

  @Test
  void routeToAlwaysSelectsItsCluster() {
    Cluster c = Cluster.of("x", Backend.of("127.0.0.1", 9001));
    Route<String> r = Route.to(c);
    assertThat(r.select("anything")).isSameAs(c);
  }
}
