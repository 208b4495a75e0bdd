package dev.meshlet.core;

import java.time.Duration;
import java.util.Objects;

/**
 * Passive outlier ejection, as Envoy's: an endpoint that fails {@code consecutiveFailures} times in
 * a row (connect failures; at L7 also 5xx and gateway errors) is ejected from the balancer for
 * {@code baseEjectionTime × (number of times it was ejected)}, at most {@code maxEjectionTime}. At
 * most {@code maxEjectionPercent} of the cluster's endpoints are ejected at once (at least one may
 * be).
 *
 * @param consecutiveFailures failures in a row that eject; default 5
 * @param baseEjectionTime first ejection's length; default 30 s
 * @param maxEjectionTime cap on an ejection's length; default 300 s
 * @param maxEjectionPercent the most endpoints ejected at once, in percent; default 50
 */
public record OutlierDetection(
    int consecutiveFailures,
    Duration baseEjectionTime,
    Duration maxEjectionTime,
    int maxEjectionPercent) {

  /** Validates the ranges given in the record description. */
  public OutlierDetection {
    if (consecutiveFailures < 1) {
      throw new IllegalArgumentException(
          "consecutiveFailures: " + consecutiveFailures + " (expected: >= 1)");
    }
    Objects.requireNonNull(baseEjectionTime, "baseEjectionTime");
    Objects.requireNonNull(maxEjectionTime, "maxEjectionTime");
    if (baseEjectionTime.isNegative() || baseEjectionTime.isZero()) {
      throw new IllegalArgumentException(
          "baseEjectionTime: " + baseEjectionTime + " (expected: > 0)");
    }
    if (maxEjectionTime.compareTo(baseEjectionTime) < 0) {
      throw new IllegalArgumentException(
          "maxEjectionTime: "
              + maxEjectionTime
              + " (expected: >= baseEjectionTime "
              + baseEjectionTime
              + ")");
    }
    if (maxEjectionPercent < 0 || maxEjectionPercent > 100) {
      throw new IllegalArgumentException(
          "maxEjectionPercent: " + maxEjectionPercent + " (expected: 0-100)");
    }
  }

  /** Ejects after {@code n} consecutive failures, with the default times and percentage. */
  public static OutlierDetection consecutiveFailures(int n) {
    return new OutlierDetection(n, Duration.ofSeconds(30), Duration.ofSeconds(300), 50);
  }

  /** This policy with other ejection times. */
  public OutlierDetection withEjectionTime(Duration base, Duration max) {
    return new OutlierDetection(consecutiveFailures, base, max, maxEjectionPercent);
  }

  /** This policy with another cap on the share of endpoints ejected at once. */
  public OutlierDetection withMaxEjectionPercent(int percent) {
    return new OutlierDetection(consecutiveFailures, baseEjectionTime, maxEjectionTime, percent);
  }
}
