package dev.meshlet.xds;

import dev.meshlet.core.Backend;
import dev.meshlet.core.Balancer;
import dev.meshlet.core.Cluster;
import dev.meshlet.core.DnsDiscovery;
import dev.meshlet.core.HealthCheck;
import dev.meshlet.core.OutlierDetection;
import java.time.Duration;
import java.util.List;
import org.jspecify.annotations.Nullable;

/**
 * One CDS cluster as meshlet reads it: where its endpoints come from (EDS, inline or DNS) and the
 * policies {@link Cluster.Builder} takes.
 *
 * @param edsName the EDS resource its endpoints come from, or null for a static or DNS cluster
 * @param backends the inline endpoints of a STATIC cluster
 * @param dns the one host name a STRICT_DNS or LOGICAL_DNS cluster resolves, or null
 * @param maxActive the circuit breaker's max_requests, 0 for none
 * @param maxPending the circuit breaker's max_pending_requests, 0 for none
 * @param connectTimeout the cluster's connect_timeout, or null when unset
 */
record ClusterSpec(
    String name,
    @Nullable String edsName,
    List<Backend> backends,
    @Nullable Backend dns,
    Balancer balancer,
    int maxActive,
    int maxPending,
    @Nullable OutlierDetection outlier,
    @Nullable HealthCheck health,
    @Nullable Duration connectTimeout) {

  ClusterSpec {
    backends = List.copyOf(backends);
  }

  /**
   * A live cluster with these policies and {@code endpoints} (an EDS cluster's last assignment).
   */
  Cluster build(List<Backend> endpoints) {
    Cluster.Builder b = Cluster.builder(name).balancer(balancer);
    if (edsName != null) {
      b.backends(endpoints);
    } else if (dns != null) {
      b.discovery(DnsDiscovery.hosts(dns.host(), dns.port()).build());
    } else {
      b.backends(backends);
    }
    if (maxActive > 0) {
      b.maxActive(maxActive);
    }
    if (maxPending > 0) {
      b.maxPending(maxPending);
    }
    if (outlier != null) {
      b.outlierDetection(outlier);
    }
    if (health != null) {
      b.healthCheck(health);
    }
    return b.build();
  }
}
