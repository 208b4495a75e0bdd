package dev.meshlet.l4.internal;

import dev.meshlet.l4.TcpProxy;
import dev.meshlet.l4.TcpProxyStats;

/**
 * A {@code TcpProxy}'s stats as metric families, named after Envoy's statistics with a {@code
 * meshlet_} prefix and labelled by {@code listener}: what the admin endpoint's {@code
 * /stats/prometheus} and the Micrometer binders both write.
 */
public final class TcpFamilies {
  private TcpFamilies() {}

  /** Writes {@code proxy}'s families, labelled {@code listener=l}, to {@code p}. */
  public static void write(MetricSink p, String l, TcpProxy proxy) {
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
    ClusterFamilies.write(p, l, proxy.cluster().name(), s.cluster(), true);
  }

  /** The TCP proxy's PROXY header, ClientHello and TLS handshake outcomes. */
  private static void tls(MetricSink p, String l, TcpProxyStats s) {
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
}
