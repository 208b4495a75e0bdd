package dev.meshlet.core;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * What {@link Cluster#stats()} reports and what the balancer picks from are one snapshot. The
 * health checker's one thread flips endpoints while readers compare stats, available and picks.
 * Each phase moves one way only (first endpoints go unhealthy one by one, then healthy one by one),
 * so a reader knows what a later read may not show: once stats called an endpoint unhealthy in the
 * first phase, no later snapshot of that phase offers it, and the other way round in the second.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class SnapshotTest {
  private static final int FLIPPED = 128; // 2 × 128 = 256 flips; one more endpoint stays healthy

  private static void awaitTrue(String what, BooleanSupplier condition) {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    while (!condition.getAsBoolean()) {
      if (System.nanoTime() > deadline) {
        throw new AssertionError("timed out waiting for " + what);
      }
      LockSupport.parkNanos(200_000);
    }
  }

  @Test
  void statsAvailableAndPicksNeverDisagreeWhileHealthFlips() throws Exception {
    AtomicIntegerArray down =
        new AtomicIntegerArray(FLIPPED + 1); // 1: the probe of endpoint i fails
    Cluster.Builder b =
        Cluster.builder("flips")
            .healthCheck(
                HealthCheck.of((e, timeout) -> down.get(e.backend().port() - 10_000) == 0)
                    .withInterval(Duration.ofMillis(1))
                    .withTimeout(Duration.ofSeconds(5))
                    .withThresholds(1, 1));
    for (int i = 0; i <= FLIPPED; i++) {
      b.backends(Backend.of("127.0.0.1", 10_000 + i).withName("e" + i));
    }
    AtomicLong phase = new AtomicLong(1); // 1: going unhealthy, 2: coming back
    AtomicBoolean stop = new AtomicBoolean();
    Disagreements found = new Disagreements();
    AtomicLong reads = new AtomicLong();
    try (Cluster c = b.build()) {
      List<Thread> readers = new ArrayList<>();
      for (int r = 0; r < 2; r++) {
        readers.add(
            Thread.ofPlatform()
                .name("snapshot-reader-" + r)
                .start(
                    () -> {
                      while (!stop.get()) {
                        long before = phase.get();
                        ClusterStats stats = c.stats();
                        List<Endpoint> available = c.available();
                        Endpoint picked = c.pick(0);
                        long after = phase.get();
                        reads.incrementAndGet();
                        Set<String> unhealthy = new HashSet<>();
                        int healthyCount = 0;
                        for (Map.Entry<String, EndpointStats> e : stats.backends().entrySet()) {
                          if (e.getValue().healthy()) {
                            healthyCount++;
                          } else {
                            unhealthy.add(e.getKey());
                          }
                        }
                        if (!stats.panic() && stats.available() != healthyCount) {
                          found.add(
                              "stats: available "
                                  + stats.available()
                                  + " but "
                                  + healthyCount
                                  + " healthy");
                        }
                        if (before != after) {
                          continue; // a phase changed direction meanwhile: nothing follows from the
                          // order of reads
                        }
                        Set<String> offered = new HashSet<>();
                        for (Endpoint e : available) {
                          offered.add(e.backend().displayName());
                        }
                        if (before
                            == 1) { // going down: what stats called unhealthy is gone from later
                          // reads
                          for (String name : unhealthy) {
                            if (offered.contains(name)) {
                              found.add(
                                  "stats said " + name + " unhealthy, available() still holds it");
                            }
                          }
                          if (picked != null
                              && unhealthy.contains(picked.backend().displayName())) {
                            found.add("stats said " + picked + " unhealthy, pick() returned it");
                          }
                        } else { // coming back: what stats called healthy is in later reads
                          for (String name : stats.backends().keySet()) {
                            if (!unhealthy.contains(name) && !offered.contains(name)) {
                              found.add("stats said " + name + " healthy, available() lacks it");
                            }
                          }
                        }
                      }
                    }));
      }
      for (int i = 1; i <= FLIPPED; i++) {
        String name = "e" + i;
        down.set(i, 1);
        awaitTrue(name + " unhealthy", () -> !c.stats().backends().get(name).healthy());
      }
      phase.set(2);
      for (int i = 1; i <= FLIPPED; i++) {
        String name = "e" + i;
        down.set(i, 0);
        awaitTrue(name + " healthy", () -> c.stats().backends().get(name).healthy());
      }
      stop.set(true);
      for (Thread t : readers) {
        t.join();
      }
      assertThat(c.available()).hasSize(FLIPPED + 1);
    }
    assertThat(reads.get()).as("reads while health flipped").isGreaterThan(2 * FLIPPED);
    assertThat(found.count.get())
        .as(found.count + " disagreements in " + reads + " reads, first: " + found.first)
        .isZero();
  }

  /** Counts disagreements and keeps the first few for the failure message. */
  private static final class Disagreements {
    final AtomicLong count = new AtomicLong();
    final ConcurrentLinkedQueue<String> first = new ConcurrentLinkedQueue<>();

    void add(String what) {
      if (count.incrementAndGet() <= 10) {
        first.add(what);
      }
    }
  }
}
