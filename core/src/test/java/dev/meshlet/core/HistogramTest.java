package dev.meshlet.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.meshlet.core.internal.LatencyRecorder;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@Timeout(value = 30, unit = TimeUnit.SECONDS)
class HistogramTest {

  @Test
  void boundsAreEnvoysDefaultBuckets() {
    assertThat(Histogram.BOUNDS).hasSize(19);
    assertThat(Histogram.BOUNDS.get(0)).isEqualTo(Duration.ofMillis(1).dividedBy(2));
    assertThat(Histogram.BOUNDS.get(18)).isEqualTo(Duration.ofHours(1));
  }

  @Test
  void timesFallInTheBucketOfTheirUpperBoundInclusive() {
    LatencyRecorder r = new LatencyRecorder();
    r.record(0); // <= 0.5 ms
    r.record(500_000); // exactly 0.5 ms: still the first bucket
    r.record(500_001); // just over: the 1 ms bucket
    r.record(TimeUnit.MILLISECONDS.toNanos(7)); // the 10 ms bucket
    r.record(TimeUnit.HOURS.toNanos(2)); // over the last bound
    r.record(-5); // a clock step back counts as 0
    Histogram h = r.snapshot();
    assertThat(h.count()).isEqualTo(6);
    assertThat(h.counts().get(0)).isEqualTo(3);
    assertThat(h.counts().get(1)).isEqualTo(1);
    assertThat(h.counts().get(3)).isEqualTo(1);
    assertThat(h.counts().get(19)).isEqualTo(1);
    assertThat(h.cumulative(0)).isEqualTo(3);
    assertThat(h.cumulative(3)).isEqualTo(5);
    assertThat(h.cumulative(19)).isEqualTo(6);
    assertThat(h.sum())
        .isEqualTo(Duration.ofNanos(500_000 + 500_001 + 7_000_000).plus(Duration.ofHours(2)));
  }

  @Test
  void histogramsAddUpBucketByBucket() {
    LatencyRecorder a = new LatencyRecorder();
    LatencyRecorder b = new LatencyRecorder();
    a.record(1_000);
    b.record(1_000);
    b.record(TimeUnit.SECONDS.toNanos(1));
    Histogram sum = a.snapshot().plus(b.snapshot());
    assertThat(sum.count()).isEqualTo(3);
    assertThat(sum.counts().get(0)).isEqualTo(2);
    assertThat(sum.cumulative(9)).isEqualTo(3); // the 1000 ms bucket
    assertThat(Histogram.empty().plus(sum)).isEqualTo(sum);
  }

  @Test
  void countsMustMatchTheBuckets() {
    assertThatThrownBy(() -> new Histogram(Histogram.BOUNDS, List.of(1L), 1, Duration.ZERO))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("counts: 1 entries (expected: bounds + 1 = 20)");
  }

  @Test
  void concurrentRecordsAreAllCounted() throws Exception {
    LatencyRecorder r = new LatencyRecorder();
    List<Thread> threads = new ArrayList<>();
    for (int t = 0; t < 4; t++) {
      threads.add(
          Thread.ofPlatform()
              .start(
                  () -> {
                    for (int i = 0; i < 10_000; i++) {
                      r.record(i * 1_000L);
                    }
                  }));
    }
    for (Thread t : threads) {
      t.join();
    }
    assertThat(r.snapshot().count()).isEqualTo(40_000);
  }
}
