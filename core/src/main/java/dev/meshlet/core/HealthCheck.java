package dev.meshlet.core;

import java.net.Socket;
import java.time.Duration;
import java.util.Objects;

/**
 * Active health checking for a {@link Cluster}: every {@code interval} (plus up to {@code jitter}),
 * each endpoint is probed; {@code unhealthyThreshold} failures in a row take it out of the
 * balancer, {@code healthyThreshold} successes in a row bring it back (with slow start, if the
 * cluster has it). Endpoints start healthy.
 *
 * <pre>{@code
 * Cluster db = Cluster.builder("db")
 *     .backends(Backend.of("10.0.0.1", 5432), Backend.of("10.0.0.2", 5432))
 *     .healthCheck(HealthCheck.tcp().withInterval(Duration.ofSeconds(2)))
 *     .build();
 * }</pre>
 *
 * @param probe what one check does
 * @param interval time between checks of an endpoint; default 5 s
 * @param timeout how long one probe may take before it counts as failed; default 1 s
 * @param jitter a random extra delay up to this, so checks of many proxies spread out; default 0
 * @param healthyThreshold successes in a row that make an unhealthy endpoint healthy; default 2
 * @param unhealthyThreshold failures in a row that make a healthy endpoint unhealthy; default 3
 */
public record HealthCheck(
    Probe probe,
    Duration interval,
    Duration timeout,
    Duration jitter,
    int healthyThreshold,
    int unhealthyThreshold) {

  /** One health probe of one endpoint; runs on its own virtual thread, so it may block. */
  @FunctionalInterface
  public interface Probe {
    /**
     * Checks {@code endpoint}; returns true when healthy. Throwing counts as unhealthy.
     *
     * @param timeout how long the probe may take
     */
    boolean check(Endpoint endpoint, Duration timeout) throws Exception;
  }

  /** Validates the ranges given in the record description. */
  public HealthCheck {
    Objects.requireNonNull(probe, "probe");
    positive("interval", interval);
    positive("timeout", timeout);
    Objects.requireNonNull(jitter, "jitter");
    if (jitter.isNegative()) {
      throw new IllegalArgumentException("jitter: " + jitter + " (expected: >= 0)");
    }
    if (healthyThreshold < 1) {
      throw new IllegalArgumentException(
          "healthyThreshold: " + healthyThreshold + " (expected: >= 1)");
    }
    if (unhealthyThreshold < 1) {
      throw new IllegalArgumentException(
          "unhealthyThreshold: " + unhealthyThreshold + " (expected: >= 1)");
    }
  }

  private static void positive(String what, Duration d) {
    Objects.requireNonNull(d, what);
    if (d.isNegative() || d.isZero()) {
      throw new IllegalArgumentException(what + ": " + d + " (expected: > 0)");
    }
  }

  /** A check that succeeds when a TCP connection to the endpoint opens within the timeout. */
  public static HealthCheck tcp() {
    return of(HealthCheck::tcpConnect);
  }

  /**
   * A check with the default timings around a probe of your own (an L7 proxy offers an HTTP one).
   */
  public static HealthCheck of(Probe probe) {
    return new HealthCheck(
        probe, Duration.ofSeconds(5), Duration.ofSeconds(1), Duration.ZERO, 2, 3);
  }

  private static boolean tcpConnect(Endpoint endpoint, Duration timeout) throws Exception {
    try (Socket s = new Socket()) {
      s.connect(
          endpoint.address(), (int) Math.max(1, Math.min(Integer.MAX_VALUE, timeout.toMillis())));
      return true;
    }
  }

  /** This check with another interval. */
  public HealthCheck withInterval(Duration interval) {
    return new HealthCheck(probe, interval, timeout, jitter, healthyThreshold, unhealthyThreshold);
  }

  /** This check with another probe timeout. */
  public HealthCheck withTimeout(Duration timeout) {
    return new HealthCheck(probe, interval, timeout, jitter, healthyThreshold, unhealthyThreshold);
  }

  /** This check with a random extra delay of up to {@code jitter} before each check. */
  public HealthCheck withJitter(Duration jitter) {
    return new HealthCheck(probe, interval, timeout, jitter, healthyThreshold, unhealthyThreshold);
  }

  /** This check with other thresholds (rise and fall). */
  public HealthCheck withThresholds(int healthy, int unhealthy) {
    return new HealthCheck(probe, interval, timeout, jitter, healthy, unhealthy);
  }
}
