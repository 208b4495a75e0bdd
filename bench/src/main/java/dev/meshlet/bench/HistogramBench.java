package dev.meshlet.bench;

import dev.meshlet.core.Histogram;
import dev.meshlet.core.internal.LatencyRecorder;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Threads;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The latency histogram's record path, as the proxies call it once per request (L7) or connection
 * (L4): a bucket search and two atomic adds. {@code record} spreads times over the low buckets, as
 * loopback and LAN latencies fall; {@code recordSlow} puts every time in the last bucket (the
 * longest search); {@code recordContended} has two threads on one histogram. Run with {@code -prof
 * gc}: {@code gc.alloc.rate.norm} must be 0 B/op. {@code snapshot} is the reader's side (a scrape).
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
@State(Scope.Benchmark)
public class HistogramBench {
  private final LatencyRecorder recorder = new LatencyRecorder();

  /** Per-thread times: 0.1 ms to about 26 ms, cycling, so the branch predictor sees a mix. */
  @State(Scope.Thread)
  public static class Times {
    long n;

    long next() {
      n = (n + 1) & 255;
      return 100_000L * (n + 1);
    }
  }

  /** One time from the first buckets, where most request times fall. */
  @Benchmark
  public void record(Times t) {
    recorder.record(t.next());
  }

  /** A time past every bound: the longest bucket scan. */
  @Benchmark
  public void recordSlow() {
    recorder.record(TimeUnit.HOURS.toNanos(2));
  }

  /** Two threads recording into one histogram, as two selectors would. */
  @Benchmark
  @Threads(2)
  public void recordContended(Times t) {
    recorder.record(t.next());
  }

  /** What a scrape pays per histogram. */
  @Benchmark
  public Histogram snapshot() {
    return recorder.snapshot();
  }
}
