package dev.meshlet.l7.internal;

import dev.meshlet.l4.internal.ClusterFamilies;
import dev.meshlet.l4.internal.MetricSink;
import dev.meshlet.l7.HttpProxyStats;
import java.util.Locale;

/**
 * An {@code HttpProxy}'s stats as metric families, named after Envoy's statistics with a {@code
 * meshlet_} prefix and labelled by {@code listener}, {@code route}, {@code cluster} and {@code
 * backend} (histograms in milliseconds): what the admin endpoint's {@code /stats/prometheus} and
 * the Micrometer binders both write.
 */
public final class HttpFamilies {
  private HttpFamilies() {}

  /** Writes the families of stats {@code s}, labelled {@code listener=l}, to {@code p}. */
  public static void write(MetricSink p, String l, HttpProxyStats s) {
    HttpProxyStats.Connections cx = s.connections();
    p.counter(
        "meshlet_downstream_cx_total", "Client connections accepted", cx.accepted(), "listener", l);
    p.gauge(
        "meshlet_downstream_cx_active", "Client connections open now", cx.active(), "listener", l);
    p.counter(
        "meshlet_downstream_cx_destroy_total",
        "Client connections closed (HTTP listeners)",
        cx.closed(),
        "listener",
        l);
    counts(p, "meshlet_downstream_rq", "the proxy", s.total(), "listener", l);
    p.histogram(
        "meshlet_downstream_rq_time",
        "Time from a request's arrival to its end, ms",
        s.total().totalTime(),
        "listener",
        l);
    s.routes()
        .forEach(
            (route, c) -> {
              counts(p, "meshlet_route_rq", "a route", c, "listener", l, "route", route);
              p.histogram(
                  "meshlet_route_rq_time",
                  "Time from a request's arrival to its end, by route, ms",
                  c.totalTime(),
                  "listener",
                  l,
                  "route",
                  route);
              p.histogram(
                  "meshlet_route_upstream_rq_time",
                  "Time from sending a request to a backend to its response head, by route, ms",
                  c.upstreamTime(),
                  "listener",
                  l,
                  "route",
                  route);
            });
    s.backends()
        .forEach(
            (backend, c) -> {
              String cluster = ClusterFamilies.clusterOf(s.clusters(), backend);
              counts(
                  p,
                  "meshlet_upstream_rq",
                  "a backend",
                  c,
                  "listener",
                  l,
                  "cluster",
                  cluster,
                  "backend",
                  backend);
              p.histogram(
                  "meshlet_upstream_rq_time",
                  "Time from sending a request to a backend to its response head, ms",
                  c.upstreamTime(),
                  "listener",
                  l,
                  "cluster",
                  cluster,
                  "backend",
                  backend);
            });
    s.retries()
        .byReason()
        .forEach(
            (reason, n) ->
                p.counter(
                    "meshlet_upstream_rq_retry_total",
                    "Retries made, by reason",
                    n,
                    "listener",
                    l,
                    "reason",
                    reason.name().toLowerCase(Locale.ROOT)));
    p.counter(
        "meshlet_upstream_rq_retry_overflow_total",
        "Retries refused because the retry budget was spent",
        s.retries().budgetExhausted(),
        "listener",
        l);
    p.counter(
        "meshlet_upstream_rq_retry_not_replayable_total",
        "Retries refused because the body was over the replay buffer",
        s.retries().notReplayable(),
        "listener",
        l);
    p.gauge(
        "meshlet_listener_draining",
        "1 while the proxy drains (accepts no new connections)",
        s.draining() ? 1 : 0,
        "listener",
        l);
    s.clusters().forEach((name, c) -> ClusterFamilies.write(p, l, name, c, false));
  }

  private static void counts(
      MetricSink p, String prefix, String scope, HttpProxyStats.Counts c, String... labels) {
    p.counter(prefix + "_total", "Requests started, by " + scope, c.requests(), labels);
    p.gauge(prefix + "_active", "Requests in flight, by " + scope, c.inFlight(), labels);
    long[] classes = {c.status1xx(), c.status2xx(), c.status3xx(), c.status4xx(), c.status5xx()};
    for (int i = 0; i < classes.length; i++) {
      p.counter(
          prefix + "_xx_total",
          "Final responses by status class, by " + scope,
          classes[i],
          ClusterFamilies.with(labels, "response_code_class", Integer.toString(i + 1)));
    }
    c.statusCodes()
        .forEach(
            (code, n) ->
                p.counter(
                    prefix + "_code_total",
                    "Final responses by status code, by " + scope,
                    n,
                    ClusterFamilies.with(labels, "response_code", Integer.toString(code))));
    c.errors()
        .forEach(
            (kind, n) ->
                p.counter(
                    prefix + "_errors_total",
                    "Errors the proxy answered or aborted with, by kind, by " + scope,
                    n,
                    ClusterFamilies.with(labels, "kind", kind.name().toLowerCase(Locale.ROOT))));
    p.counter(
        prefix + "_faults_applied_total",
        "HTTP faults applied to requests, by " + scope,
        c.faultsApplied(),
        labels);
    p.counter(
        prefix + "_rx_bytes_total",
        "Request body bytes received from clients, by " + scope,
        c.bytesIn(),
        labels);
    p.counter(
        prefix + "_tx_bytes_total",
        "Response body bytes sent to clients, by " + scope,
        c.bytesOut(),
        labels);
  }
}
