package dev.meshlet.bench;

import dev.meshlet.core.Backend;
import dev.meshlet.core.Balancer;
import dev.meshlet.core.Cluster;
import dev.meshlet.core.Endpoint;
import dev.meshlet.core.internal.Lease;
import java.util.concurrent.TimeUnit;
import org.jspecify.annotations.Nullable;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * One pick of each balancer over 8 backends with weights 1..8, the way a proxy picks per connection
 * or request: through {@link Cluster#pick(long)} (a volatile read of the current picker, then the
 * pick). Run with {@code -prof gc}: {@code gc.alloc.rate.norm} must be 0 B/op.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
@State(Scope.Benchmark)
public class BalancerBench {

  @Param({"round-robin", "random", "weighted-round-robin", "least-connections", "consistent-hash"})
  public String balancer;

  private Cluster cluster;
  private Balancer.Picker picker;

  /** Per-thread key, so the consistent hash sees many clients and nothing is constant-folded. */
  @State(Scope.Thread)
  public static class Key {
    long next = 0x9e3779b97f4a7c15L;

    long next() {
      return next += 0x632be59bd9b4e019L;
    }
  }

  @Setup
  public void setup() {
    Balancer b =
        switch (balancer) {
          case "round-robin" -> Balancer.roundRobin();
          case "random" -> Balancer.random();
          case "weighted-round-robin" -> Balancer.weightedRoundRobin();
          case "least-connections" -> Balancer.leastConnections();
          case "consistent-hash" -> Balancer.consistentHash();
          default -> throw new IllegalArgumentException(balancer);
        };
    Cluster.Builder cb = Cluster.builder("bench").balancer(b);
    for (int i = 0; i < 8; i++) {
      cb.backends(Backend.of("10.0.0." + (i + 1), 8080).withWeight(i + 1));
    }
    cluster = cb.build();
    picker = b.picker(cluster.endpoints());
    // a few connections in flight, so least-connections compares different counts
    for (int i = 0; i < cluster.endpoints().size(); i++) {
      for (int k = 0; k < i % 3; k++) {
        Lease.begin(cluster.endpoints().get(i)); // left open: the fixture's connections in flight
      }
    }
  }

  /** The pick as the proxies make it. */
  @Benchmark
  public @Nullable Endpoint clusterPick(Key key) {
    return cluster.pick(key.next());
  }

  /** The picker alone. */
  @Benchmark
  public @Nullable Endpoint pickerPick(Key key) {
    return picker.pick(key.next(), 0);
  }

  /** A retry that must avoid the previous endpoint. */
  @Benchmark
  public @Nullable Endpoint retryPick(Key key) {
    long k = key.next();
    Endpoint first = cluster.pick(k);
    return cluster.pick(k, 1, first);
  }
}
