package dev.meshlet.l4.internal;

import dev.meshlet.core.ClusterStats;
import dev.meshlet.core.EndpointStats;
import java.util.Map;

/**
 * A cluster's stats as metric families (per cluster and per backend), for both proxies' family
 * writers.
 */
public final class ClusterFamilies {
  private ClusterFamilies() {}

  /** Writes cluster {@code name}'s families, of a TCP proxy's cluster when {@code tcp}. */
  public static void write(MetricSink p, String l, String name, ClusterStats c, boolean tcp) {
    String[] labels = {"listener", l, "cluster", name};
    long healthy = 0;
    for (EndpointStats e : c.backends().values()) {
      if (e.healthy()) {
        healthy++;
      }
    }
    p.gauge("meshlet_membership_endpoints", "Endpoints in service", c.endpoints(), labels);
    p.gauge("meshlet_membership_healthy", "Endpoints passing health checks", healthy, labels);
    p.gauge(
        "meshlet_membership_available",
        "Endpoints the balancer picks from (healthy, not ejected)",
        c.available(),
        labels);
    p.gauge(
        "meshlet_lb_healthy_panic",
        "1 while no endpoint is available and the cluster uses all",
        c.panic() ? 1 : 0,
        labels);
    p.gauge(
        "meshlet_cluster_active",
        "Connections or requests through the circuit breaker now",
        c.active(),
        labels);
    p.counter("meshlet_cluster_overflow_total", "Refused at maxActive", c.overflows(), labels);
    p.gauge(
        "meshlet_cluster_pending_active",
        "Waiting for a backend connection now",
        c.pending(),
        labels);
    p.counter(
        "meshlet_cluster_pending_overflow_total",
        "Refused at maxPending",
        c.pendingOverflows(),
        labels);
    p.gauge("meshlet_cluster_retries_active", "Retries in flight now", c.retriesActive(), labels);
    p.counter(
        "meshlet_cluster_retry_overflow_total",
        "Retries refused by the retry budget",
        c.retryOverflows(),
        labels);
    p.counter(
        "meshlet_outlier_detection_ejections_total", "Outlier ejections", c.ejections(), labels);
    c.backends()
        .forEach(
            (backend, e) -> {
              String[] b = with(labels, "backend", backend);
              if (tcp) {
                p.gauge(
                    "meshlet_upstream_cx_active",
                    "Connections to the backend open now",
                    e.active(),
                    b);
                p.counter(
                    "meshlet_upstream_cx_total", "Connections to the backend made", e.total(), b);
              }
              p.counter(
                  "meshlet_endpoint_failures_total",
                  "Connect failures and upstream errors of the endpoint",
                  e.failures(),
                  b);
              p.counter(
                  "meshlet_endpoint_rx_bytes_total",
                  "Bytes received from the backend",
                  e.bytesIn(),
                  b);
              p.counter(
                  "meshlet_endpoint_tx_bytes_total", "Bytes sent to the backend", e.bytesOut(), b);
              p.gauge(
                  "meshlet_endpoint_healthy",
                  "1 while the endpoint passes health checks",
                  e.healthy() ? 1 : 0,
                  b);
              p.gauge(
                  "meshlet_endpoint_ejected",
                  "1 while outlier detection has ejected the endpoint",
                  e.ejected() ? 1 : 0,
                  b);
              p.counter(
                  "meshlet_endpoint_ejections_total",
                  "Times the endpoint was ejected",
                  e.ejections(),
                  b);
              p.gauge("meshlet_endpoint_weight", "The weight balancers use now", e.weight(), b);
              p.counter(
                  "meshlet_endpoint_health_transitions_total",
                  "Times health checks flipped the endpoint between healthy and unhealthy",
                  e.healthTransitions(),
                  b);
            });
  }

  /** The name of the cluster whose stats list {@code backend}, or the empty string. */
  public static String clusterOf(Map<String, ClusterStats> clusters, String backend) {
    for (Map.Entry<String, ClusterStats> c : clusters.entrySet()) {
      if (c.getValue().backends().containsKey(backend)) {
        return c.getKey();
      }
    }
    return "";
  }

  /** {@code labels} with one more name, value pair. */
  public static String[] with(String[] labels, String name, String value) {
    String[] out = new String[labels.length + 2];
    System.arraycopy(labels, 0, out, 0, labels.length);
    out[labels.length] = name;
    out[labels.length + 1] = value;
    return out;
  }
}
