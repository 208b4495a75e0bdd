package dev.meshlet.core;

import java.time.Duration;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * A cluster's active health checks: one virtual thread that probes every endpoint each interval
 * (each probe on a virtual thread of its own, bounded by the timeout) and owns each endpoint's run
 * of results. Only a run long enough to cross a threshold reaches the cluster, as {@link
 * Cluster#setHealthy(Endpoint, boolean)}.
 */
final class HealthChecker implements AutoCloseable {
  /** Successes or failures in a row; touched by the checker's thread only. */
  private static final class Run {
    int successes;
    int failures;
  }

  private final Cluster cluster;
  private final HealthCheck check;
  private final ExecutorService probes;
  private final Thread thread;
  private final Map<Endpoint, Run> runs = new IdentityHashMap<>();
  private volatile boolean closed;

  HealthChecker(Cluster cluster, HealthCheck check) {
    this.cluster = cluster;
    this.check = check;
    this.probes =
        Executors.newThreadPerTaskExecutor(
            Thread.ofVirtual().name("meshlet-health-" + cluster.name() + "-", 0).factory());
    this.thread = Thread.ofVirtual().name("meshlet-health-" + cluster.name()).start(this::loop);
  }

  private void loop() {
    long jitter = check.jitter().toNanos();
    while (!closed) {
      try {
        long pause =
            check.interval().toNanos()
                + (jitter > 0 ? ThreadLocalRandom.current().nextLong(jitter + 1) : 0);
        Thread.sleep(Duration.ofNanos(pause));
        List<Endpoint> endpoints = cluster.endpoints();
        runs.keySet().retainAll(endpoints); // forget removed endpoints
        List<Future<Boolean>> results = new ArrayList<>(endpoints.size());
        for (Endpoint e : endpoints) {
          results.add(probes.submit(() -> check.probe().check(e, check.timeout())));
        }
        long deadline = System.nanoTime() + check.timeout().toNanos();
        for (int i = 0; i < endpoints.size(); i++) {
          boolean ok;
          Future<Boolean> f = results.get(i);
          try {
            ok =
                Boolean.TRUE.equals(
                    f.get(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS));
          } catch (TimeoutException | ExecutionException ex) {
            f.cancel(true);
            ok = false;
          }
          record(endpoints.get(i), ok);
        }
      } catch (InterruptedException | RejectedExecutionException e) {
        return;
      }
    }
  }

  private void record(Endpoint e, boolean ok) {
    Run run = runs.computeIfAbsent(e, x -> new Run());
    if (ok) {
      run.failures = 0;
      if (!e.healthy() && ++run.successes >= check.healthyThreshold()) {
        run.successes = 0;
        cluster.setHealthy(e, true);
      }
    } else {
      run.successes = 0;
      if (e.healthy() && ++run.failures >= check.unhealthyThreshold()) {
        run.failures = 0;
        cluster.setHealthy(e, false);
      }
    }
  }

  /** Stops the checks and waits for the checker's threads. Idempotent. */
  @Override
  public void close() {
    closed = true;
    thread.interrupt();
    probes.shutdownNow();
    try {
      thread.join();
      probes.awaitTermination(10, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
