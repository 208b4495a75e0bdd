package dev.meshlet.admin;

import dev.meshlet.core.ClusterStats;
import dev.meshlet.core.EndpointStats;
import dev.meshlet.l4.TcpProxy;
import dev.meshlet.l4.TcpProxyStats;
import dev.meshlet.l7.HttpProxyStats;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The proxies' stats as Prometheus families, named after Envoy's statistics with a {@code meshlet_}
 * prefix, labelled by {@code listener} (the registered name), {@code route}, {@code cluster} and
 * {@code backend}. Histograms are in milliseconds, as Envoy's.
 */
final class Metrics {
  private Metrics() {}

  static String write(List<Registered> proxies) {
    PromText p = new PromText();
    for (Registered r : proxies) {
      switch (r) {
        case Registered.Http h -> http(p, h.name(), h.proxy().stats());
        case Registered.Tcp t -> tcp(p, t.name(), t.proxy());
      }
    }
    return p.text();
  }

  private static void http(PromText p, String l, HttpProxyStats s) {
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
              String cluster = clusterOf(s.clusters(), backend);
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
    s.clusters().forEach((name, c) -> cluster(p, l, name, c, false));
  }

  private static void counts(
      PromText p, String prefix, String scope, HttpProxyStats.Counts c, String... labels) {
    p.counter(prefix + "_total", "Requests started, by " + scope, c.requests(), labels);
    p.gauge(prefix + "_active", "Requests in flight, by " + scope, c.inFlight(), labels);
    long[] classes = {c.status1xx(), c.status2xx(), c.status3xx(), c.status4xx(), c.status5xx()};
    for (int i = 0; i < classes.length; i++) {
      p.counter(
          prefix + "_xx_total",
          "Final responses by status class, by " + scope,
          classes[i],
          with(labels, "response_code_class", Integer.toString(i + 1)));
    }
    c.statusCodes()
        .forEach(
            (code, n) ->
                p.counter(
                    prefix + "_code_total",
                    "Final responses by status code, by " + scope,
                    n,
                    with(labels, "response_code", Integer.toString(code))));
    c.errors()
        .forEach(
            (kind, n) ->
                p.counter(
                    prefix + "_errors_total",
                    "Errors the proxy answered or aborted with, by kind, by " + scope,
                    n,
                    with(labels, "kind", kind.name().toLowerCase(Locale.ROOT))));
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

  private static void tcp(PromText p, String l, TcpProxy proxy) {
    TcpProxyStats s = proxy.stats();
    boolean enabled = proxy.isEnabled();
    int toxics = proxy.toxics().list().size();
    p.counter(
        "meshlet_downstream_cx_total", "Client connections accepted", s.accepted(), "listener", l);
    p.gauge(
        "meshlet_downstream_cx_active", "Client connections open now", s.active(), "listener", l);
    p.counter(
        "meshlet_downstream_cx_overflow_total",
        "Connections closed at once at maxConnections",
        s.rejected(),
        "listener",
        l);
    p.counter(
        "meshlet_downstream_cx_circuit_open_total",
        "Connections closed at once by an open cluster circuit breaker",
        s.overflows(),
        "listener",
        l);
    p.counter(
        "meshlet_downstream_cx_no_backend_total",
        "Connections closed because no backend could be reached or picked",
        s.noBackend(),
        "listener",
        l);
    p.counter(
        "meshlet_downstream_cx_idle_timeout_total",
        "Connections closed by the idle timeout",
        s.idleTimeouts(),
        "listener",
        l);
    p.counter(
        "meshlet_downstream_cx_reset_total",
        "Connections ended by a reset",
        s.resets(),
        "listener",
        l);
    p.counter(
        "meshlet_downstream_cx_rx_bytes_total",
        "Bytes forwarded from clients to backends",
        s.bytesUpstream(),
        "listener",
        l);
    p.counter(
        "meshlet_downstream_cx_tx_bytes_total",
        "Bytes forwarded from backends to clients",
        s.bytesDownstream(),
        "listener",
        l);
    p.counter(
        "meshlet_downstream_cx_accept_fail_total",
        "Failed accepts (most often no file descriptor left)",
        s.acceptFailures(),
        "listener",
        l);
    p.counter(
        "meshlet_downstream_cx_no_socket_total",
        "Connections closed because no socket toward a backend could be opened",
        s.noSocket(),
        "listener",
        l);
    p.histogram(
        "meshlet_downstream_cx_length",
        "How long client connections lasted, ms",
        s.duration(),
        "listener",
        l);
    p.histogram(
        "meshlet_upstream_cx_connect_time",
        "How long successful connects to a backend took, ms",
        s.connectTime(),
        "listener",
        l);
    p.counter(
        "meshlet_upstream_cx_connect_attempt_fail_total",
        "Failed connect attempts to backends",
        s.connectFailures(),
        "listener",
        l);
    p.counter(
        "meshlet_upstream_cx_unresolved_total",
        "Connect attempts to a backend whose name did not resolve",
        s.unresolved(),
        "listener",
        l);
    p.gauge(
        "meshlet_tcp_buffer_bytes",
        "Direct buffer bytes lent to connections now",
        s.bufferBytes(),
        "listener",
        l);
    p.counter(
        "meshlet_tcp_buffer_limit_hits_total",
        "Times a connection got a smaller buffer at bufferMemory",
        s.bufferLimitHits(),
        "listener",
        l);
    p.gauge(
        "meshlet_listener_draining",
        "1 while the proxy drains (accepts no new connections)",
        s.draining() ? 1 : 0,
        "listener",
        l);
    p.gauge(
        "meshlet_listener_enabled",
        "1 while the TCP proxy accepts connections (0 when disabled or drained)",
        enabled ? 1 : 0,
        "listener",
        l);
    p.gauge("meshlet_toxics_active", "Toxics installed on the TCP proxy", toxics, "listener", l);
    p.counter(
        "meshlet_toxics_applied_total",
        "Times a toxic was drawn to apply to a connection",
        s.toxicsApplied(),
        "listener",
        l);
    tls(p, l, s);
    cluster(p, l, proxy.cluster().name(), s.cluster(), true);
  }

  /** The TCP proxy's PROXY header, ClientHello and TLS handshake outcomes. */
  private static void tls(PromText p, String l, TcpProxyStats s) {
    p.counter(
        "meshlet_downstream_cx_proxy_header_rejected_total",
        "Connections closed for a missing or bad PROXY header, or from an untrusted front",
        s.proxyHeaderRejected(),
        "listener",
        l);
    TcpProxyStats.Hellos h = s.hellos();
    String name = "meshlet_tls_inspector_hellos_total";
    String help = "Connections by what their first bytes (a TLS ClientHello, for SNI routes) said";
    p.counter(name, help, h.routed(), "listener", l, "outcome", "routed");
    p.counter(name, help, h.defaulted(), "listener", l, "outcome", "defaulted");
    p.counter(name, help, h.notTls(), "listener", l, "outcome", "not_tls");
    p.counter(name, help, h.noServerName(), "listener", l, "outcome", "no_server_name");
    p.counter(name, help, h.invalid(), "listener", l, "outcome", "invalid");
    p.counter(name, help, h.tooLarge(), "listener", l, "outcome", "too_large");
    p.counter(name, help, h.timeouts(), "listener", l, "outcome", "timeout");
    p.counter(
        "meshlet_downstream_tls_handshake_failures_total",
        "Client TLS handshakes that failed where the proxy terminates TLS",
        s.tlsHandshakeFailures(),
        "listener",
        l);
    p.counter(
        "meshlet_upstream_tls_handshake_failures_total",
        "TLS handshakes with backends that failed",
        s.backendTlsFailures(),
        "listener",
        l);
  }

  private static void cluster(PromText p, String l, String name, ClusterStats c, boolean tcp) {
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

  private static String clusterOf(Map<String, ClusterStats> clusters, String backend) {
    for (Map.Entry<String, ClusterStats> c : clusters.entrySet()) {
      if (c.getValue().backends().containsKey(backend)) {
        return c.getKey();
      }
    }
    return "";
  }

  private static String[] with(String[] labels, String name, String value) {
    String[] out = new String[labels.length + 2];
    System.arraycopy(labels, 0, out, 0, labels.length);
    out[labels.length] = name;
    out[labels.length + 1] = value;
    return out;
  }
}
