package dev.meshlet.xds;

import dev.meshlet.core.Backend;
import dev.meshlet.core.Balancer;
import dev.meshlet.core.HealthCheck;
import dev.meshlet.core.OutlierDetection;
import dev.meshlet.l7.HttpHealthCheck;
import io.envoyproxy.envoy.config.cluster.v3.CircuitBreakers;
import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.core.v3.RoutingPriority;
import io.envoyproxy.envoy.config.endpoint.v3.ClusterLoadAssignment;
import java.time.Duration;
import java.util.List;
import org.jspecify.annotations.Nullable;

/** Reads CDS clusters into {@link ClusterSpec}s; what meshlet cannot honour is rejected. */
final class ClusterDecoder {
  private ClusterDecoder() {}

  static ClusterSpec decode(Cluster c) {
    String name = c.getName();
    if (name.isEmpty()) {
      throw new IllegalArgumentException("cluster: no name");
    }
    String where = "cluster " + name + ": ";
    if (c.hasClusterType()) {
      throw new IllegalArgumentException(
          where + "cluster_type " + c.getClusterType().getName() + " not supported");
    }
    if (c.hasTransportSocket()) {
      throw new IllegalArgumentException(where + "transport_socket (upstream TLS) not supported");
    }
    String eds = null;
    List<Backend> backends = List.of();
    Backend dns = null;
    switch (c.getType()) {
      case EDS -> {
        String service = c.getEdsClusterConfig().getServiceName();
        eds = service.isEmpty() ? name : service;
      }
      case STATIC -> backends = EndpointDecoder.backends(where, assignment(c));
      case STRICT_DNS, LOGICAL_DNS -> dns = dnsTarget(where, assignment(c));
      default ->
          throw new IllegalArgumentException(
              where + "type " + c.getType() + " not supported (expected: EDS, STATIC, STRICT_DNS)");
    }
    return new ClusterSpec(
        name,
        eds,
        backends,
        dns,
        balancer(where, c),
        threshold(c, true),
        threshold(c, false),
        outlier(c),
        health(where, c),
        c.hasConnectTimeout() ? Durations.of(c.getConnectTimeout()) : null);
  }

  private static ClusterLoadAssignment assignment(Cluster c) {
    return c.getLoadAssignment();
  }

  private static Backend dnsTarget(String where, ClusterLoadAssignment a) {
    List<Backend> hosts = EndpointDecoder.backends(where, a);
    if (hosts.size() != 1) {
      throw new IllegalArgumentException(
          where + hosts.size() + " DNS endpoints (expected: exactly 1 host name and port)");
    }
    return hosts.get(0);
  }

  private static Balancer balancer(String where, Cluster c) {
    if (c.hasLoadBalancingPolicy()) {
      throw new IllegalArgumentException(where + "load_balancing_policy not supported");
    }
    return switch (c.getLbPolicy()) {
      // Envoy's round robin honours endpoint weights; with equal weights it is plain round robin
      case ROUND_ROBIN -> Balancer.weightedRoundRobin();
      case LEAST_REQUEST -> Balancer.leastConnections();
      case RANDOM -> Balancer.random();
      case RING_HASH, MAGLEV -> Balancer.consistentHash();
      default ->
          throw new IllegalArgumentException(
              where
                  + "lb_policy "
                  + c.getLbPolicy()
                  + " not supported (expected: ROUND_ROBIN, LEAST_REQUEST, RANDOM, RING_HASH,"
                  + " MAGLEV)");
    };
  }

  /** The DEFAULT priority's max_requests ({@code requests}) or max_pending_requests; 0 if unset. */
  private static int threshold(Cluster c, boolean requests) {
    for (CircuitBreakers.Thresholds t : c.getCircuitBreakers().getThresholdsList()) {
      if (t.getPriority() != RoutingPriority.DEFAULT) {
        continue;
      }
      if (requests && t.hasMaxRequests()) {
        return positive(c.getName(), "max_requests", t.getMaxRequests().getValue());
      }
      if (!requests && t.hasMaxPendingRequests()) {
        return positive(c.getName(), "max_pending_requests", t.getMaxPendingRequests().getValue());
      }
    }
    return 0;
  }

  private static int positive(String cluster, String field, int value) {
    if (value < 1) {
      throw new IllegalArgumentException(
          "cluster "
              + cluster
              + ": circuit_breakers "
              + field
              + ": "
              + value
              + " (expected: >= 1)");
    }
    return value;
  }

  private static @Nullable OutlierDetection outlier(Cluster c) {
    if (!c.hasOutlierDetection()) {
      return null;
    }
    var o = c.getOutlierDetection();
    int n = o.hasConsecutive5Xx() ? o.getConsecutive5Xx().getValue() : 5;
    if (n <= 0) {
      return null; // Envoy: 0 turns consecutive-5xx ejection off
    }
    Duration base =
        o.hasBaseEjectionTime() ? Durations.of(o.getBaseEjectionTime()) : Duration.ofSeconds(30);
    Duration max =
        o.hasMaxEjectionTime() ? Durations.of(o.getMaxEjectionTime()) : Duration.ofMinutes(5);
    int percent = o.hasMaxEjectionPercent() ? o.getMaxEjectionPercent().getValue() : 10;
    return new OutlierDetection(n, base, max.compareTo(base) < 0 ? base : max, percent);
  }

  private static @Nullable HealthCheck health(String where, Cluster c) {
    if (c.getHealthChecksCount() == 0) {
      return null;
    }
    if (c.getHealthChecksCount() > 1) {
      throw new IllegalArgumentException(
          where + c.getHealthChecksCount() + " health_checks (expected: at most 1)");
    }
    var h = c.getHealthChecks(0);
    HealthCheck check;
    if (h.hasTcpHealthCheck()) {
      check = HealthCheck.tcp();
    } else if (h.hasHttpHealthCheck()) {
      String path = h.getHttpHealthCheck().getPath();
      check = HttpHealthCheck.get(path.isEmpty() ? "/" : path);
    } else {
      throw new IllegalArgumentException(
          where + "health check not supported (expected: tcp_health_check or http_health_check)");
    }
    if (h.hasInterval()) {
      check = check.withInterval(Durations.of(h.getInterval()));
    }
    if (h.hasTimeout()) {
      check = check.withTimeout(Durations.of(h.getTimeout()));
    }
    int healthy = h.hasHealthyThreshold() ? h.getHealthyThreshold().getValue() : 1;
    int unhealthy = h.hasUnhealthyThreshold() ? h.getUnhealthyThreshold().getValue() : 1;
    return check.withThresholds(healthy, unhealthy);
  }
}
