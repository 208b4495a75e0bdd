package dev.meshlet.core;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/**
 * The public methods kept for the proxies until they move to {@code dev.meshlet.core.internal} still
 * count as before. Goes when they go.
 */
@SuppressWarnings("removal")
class DeprecatedApiTest {

  @Test
  void clusterLimitsStillAdmitAndRelease() {
    Cluster c = Cluster.builder("c").maxActive(1).maxPending(1).backends(Backend.of("127.0.0.1", 9001)).build();
    assertThat(c.tryAcquire()).isTrue();
    assertThat(c.tryAcquire()).isFalse();
    assertThat(c.tryAcquirePending()).isTrue();
    assertThat(c.tryAcquirePending()).isFalse();
    assertThat(c.tryAcquireRetry(100, 1)).isTrue();
    assertThat(c.tryAcquireRetry(100, 1)).isFalse();
    c.acquireRetry();
    assertThat(c.stats().retriesActive()).isEqualTo(2);
    c.releaseRetry();
    c.releaseRetry();
    c.releasePending();
    c.release();
    ClusterStats s = c.stats();
    assertThat(s.active()).isZero();
    assertThat(s.pending()).isZero();
    assertThat(s.retriesActive()).isZero();
    assertThat(s.overflows()).isEqualTo(1);
    assertThat(s.pendingOverflows()).isEqualTo(1);
    assertThat(s.retryOverflows()).isEqualTo(1);
  }

  @Test
  void endpointCountersStillCount() {
    Cluster c = Cluster.builder("c").outlierDetection(OutlierDetection.consecutiveFailures(2))
        .backends(Backend.of("127.0.0.1", 9001), Backend.of("127.0.0.1", 9002)).build();
    Endpoint e = c.endpoints().get(0);
    e.begin();
    e.bytesIn(1);
    e.bytesOut(2);
    e.failed();
    e.succeeded();
    e.failed();
    e.end();
    assertThat(e.ejected()).as("the success broke the streak").isFalse();
    e.failed();
    assertThat(e.ejected()).isTrue();
    assertThat(e.stats()).isEqualTo(new EndpointStats(0, 1, 3, 1, 2, true, true, true, 1, 1));
  }

  @Test
  void journalStillRecordsThroughItsOwnMethods() {
    Journal<String> j = new Journal<>(2, "old");
    long generation = j.generation();
    j.record("a");
    j.record("b", generation);
    j.clear();
    j.record("late", generation);
    assertThat(j.entries()).isEmpty();
    assertThat(j.generation()).isEqualTo(generation + 1);
    assertThat(new Journal<String>(1).capacity()).isEqualTo(1);
  }
}
