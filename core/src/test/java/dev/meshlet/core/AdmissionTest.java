package dev.meshlet.core;

import static org.assertj.core.api.Assertions.assertThat;

import dev.meshlet.core.internal.Admission;
import dev.meshlet.core.internal.Lease;
import dev.meshlet.core.internal.Permit;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@Timeout(value = 60, unit = TimeUnit.SECONDS)
class AdmissionTest {
  private static final int RACERS = 8;

  /** Runs {@code action} on {@link #RACERS} threads released at once. */
  private static void race(Runnable action) throws InterruptedException {
    CountDownLatch start = new CountDownLatch(1);
    List<Thread> threads = new ArrayList<>();
    for (int i = 0; i < RACERS; i++) {
      threads.add(
          Thread.ofPlatform()
              .start(
                  () -> {
                    try {
                      start.await();
                    } catch (InterruptedException e) {
                      throw new AssertionError(e);
                    }
                    action.run();
                  }));
    }
    start.countDown();
    for (Thread t : threads) {
      t.join();
    }
  }

  private static Cluster cluster() {
    return Cluster.builder("c")
        .maxActive(2)
        .maxPending(1)
        .outlierDetection(OutlierDetection.consecutiveFailures(2))
        .backends(
            Backend.of("127.0.0.1", 9001),
            Backend.of("127.0.0.1", 9002),
            Backend.of("127.0.0.1", 9003))
        .build();
  }

  @Test
  void aPermitClosedFromManyThreadsAtOnceGivesItsPlaceBackOnce() throws Exception {
    Cluster c = cluster();
    for (int round = 0; round < 200; round++) {
      Permit held = Admission.tryEnter(c);
      Permit racing = Admission.tryEnter(c);
      assertThat(held).isNotNull();
      assertThat(racing).isNotNull();
      race(racing::close);
      assertThat(racing.closed()).isTrue();
      assertThat(c.stats().active()).as("round " + round).isEqualTo(1);
      held.close();
      held.close();
      assertThat(c.stats().active()).isZero();
    }
    assertThat(c.stats().overflows()).isZero();
  }

  @Test
  void refusedAdmissionIsNullAndCounted() {
    Cluster c = cluster();
    try (Permit a = Admission.tryEnter(c);
        Permit b = Admission.tryEnter(c)) {
      assertThat(a).isNotNull();
      assertThat(b).isNotNull();
      assertThat(Admission.tryEnter(c)).isNull();
      assertThat(c.stats().overflows()).isEqualTo(1);
      try (Permit waiting = Admission.tryEnterPending(c)) {
        assertThat(waiting).isNotNull();
        assertThat(Admission.tryEnterPending(c)).isNull();
        assertThat(c.stats().pending()).isEqualTo(1);
      }
      assertThat(c.stats().pending()).isZero();
      assertThat(c.stats().pendingOverflows()).isEqualTo(1);
      // budget: 50 % of 2 in flight = 1 retry, at least 1
      Permit retry = Admission.tryEnterRetry(c, 50, 1);
      assertThat(retry).isNotNull();
      assertThat(Admission.tryEnterRetry(c, 50, 1)).isNull();
      Permit stale = Admission.enterRetry(c);
      assertThat(c.stats().retriesActive()).isEqualTo(2);
      retry.close();
      stale.close();
      stale.close();
      assertThat(c.stats().retriesActive()).isZero();
      assertThat(c.stats().retryOverflows()).isEqualTo(1);
    }
    assertThat(c.stats().active()).isZero();
  }

  @Test
  void aLeaseEndsOnceAndReportsOneOutcomeWhateverTheRaces() throws Exception {
    Cluster c = Cluster.of("c", Backend.of("127.0.0.1", 9001));
    Endpoint e = c.endpoints().get(0);
    for (int round = 0; round < 200; round++) {
      Lease lease = Lease.begin(e);
      assertThat(e.active()).isEqualTo(1);
      race(
          () -> {
            lease.failed();
            lease.close();
            lease.succeeded(); // too late: the outcome is reported
          });
      assertThat(lease.closed()).isTrue();
      assertThat(lease.reported()).isTrue();
      assertThat(e.active()).as("round " + round).isZero();
    }
    EndpointStats s = e.stats();
    assertThat(s.total()).isEqualTo(200);
    assertThat(s.failures()).as("one failure per lease, not one per racing thread").isEqualTo(200);
  }

  @Test
  void aLeasesFailuresFeedOutlierDetectionOncePerLease() {
    Cluster c = cluster();
    Endpoint e = c.endpoints().get(0);
    try (Lease lease = Lease.begin(e)) {
      lease.failed();
      lease.failed(); // one lease, one outcome: not a streak of two
      lease.bytesIn(10);
      lease.bytesOut(20);
    }
    assertThat(e.ejected()).isFalse();
    assertThat(e.stats()).isEqualTo(new EndpointStats(0, 1, 1, 10, 20, true, true, false, 0, 1, 0));
    try (Lease second = Lease.pick(c, 0, 1, null)) {
      assertThat(second).isNotNull();
    }
    try (Lease again = Lease.begin(e)) {
      again.failed();
    }
    assertThat(e.ejected()).as("two leases, two failures in a row").isTrue();
    assertThat(c.stats().backends().get("127.0.0.1:9001").ejected()).isTrue();
  }
}
