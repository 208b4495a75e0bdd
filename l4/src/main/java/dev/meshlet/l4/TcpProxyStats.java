package dev.meshlet.l4;

import dev.meshlet.core.ClusterStats;
import dev.meshlet.core.Histogram;

/**
 * A snapshot of a {@link TcpProxy}'s counters since it started, with its cluster's state and
 * per-backend counters ({@code stats().cluster().backends().get("b").healthy()}).
 *
 * <p>Made by meshlet for users to read, not to build: the canonical constructor is not part of the
 * supported API and may gain components in a minor release (new components are added last); read it
 * through the accessors.
 *
 * @param accepted client connections accepted (including rejected ones)
 * @param active client connections open now
 * @param rejected connections closed at once because {@code maxConnections} was reached
 * @param overflows connections closed at once because a cluster circuit breaker was open ({@code
 *     maxActive}, or {@code maxPending} connections waiting for their backend connection)
 * @param connectFailures failed attempts to connect to a backend (each attempt counts)
 * @param noBackend client connections closed because no backend could be reached or picked
 * @param idleTimeouts connections closed by the idle timeout
 * @param resets connections ended by a reset (either side), propagated to the other side
 * @param bytesUpstream bytes forwarded from clients to backends
 * @param bytesDownstream bytes forwarded from backends to clients
 * @param bufferBytes bytes of direct buffers lent to connections now (only bursts in flight hold
 *     any)
 * @param bufferLimitHits times a connection went on with a smaller buffer because {@link
 *     TcpProxyBuilder#bufferMemory(long) bufferMemory} was reached, or the JVM had no direct memory
 *     left
 * @param acceptFailures times accepting a connection failed, most often because the process had no
 *     file descriptor left; the acceptor retries after a back-off of at most 50 ms (so it accepts
 *     again within that of descriptors being free) and logs the first failure and the recovery of
 *     each episode
 * @param noSocket client connections closed at once because no socket could be opened toward a
 *     backend (no file descriptor left); the backend is not blamed for it
 * @param unresolved connect attempts to a backend whose host name did not resolve when it joined
 *     the cluster (also counted in {@code connectFailures}); each such backend is logged once, at
 *     WARNING
 * @param draining whether {@link TcpProxy#close()} has begun and the proxy accepts no more
 * @param cluster the cluster new connections go to: circuit breakers and each backend's health,
 *     ejection, weight and counters
 * @param connectTime how long each successful connect to a backend took
 * @param duration how long each client connection lasted, from accept to close
 * @param toxicsApplied times a toxic was drawn to apply to a connection (one per toxic and
 *     connection)
 * @param proxyHeaderRejected connections closed, nothing forwarded, because {@link
 *     TcpProxyBuilder#proxyProtocolIn(String...) proxyProtocolIn} is on and they did not begin with
 *     a valid PROXY header within the handshake timeout, or came from an address that is no trusted
 *     front
 * @param hellos what the ClientHellos of TLS passthrough said, when {@link TcpProxyBuilder#sniRoute
 *     sniRoute}s are set
 * @param tlsHandshakeFailures TLS handshakes with clients that failed or took longer than the
 *     handshake timeout (the connection is closed)
 * @param backendTlsFailures TLS handshakes with backends that failed, each attempt (also counted in
 *     {@code connectFailures}); the journal's {@link TcpEvent.BackendTlsFailed} says why
 */
public record TcpProxyStats(
    long accepted,
    long active,
    long rejected,
    long overflows,
    long connectFailures,
    long noBackend,
    long idleTimeouts,
    long resets,
    long bytesUpstream,
    long bytesDownstream,
    long bufferBytes,
    long bufferLimitHits,
    long acceptFailures,
    long noSocket,
    long unresolved,
    boolean draining,
    ClusterStats cluster,
    Histogram connectTime,
    Histogram duration,
    long toxicsApplied,
    long proxyHeaderRejected,
    Hellos hellos,
    long tlsHandshakeFailures,
    long backendTlsFailures) {

  /**
   * What ClientHellos said, one count per connection (a connection may count in a reason and in
   * {@code defaulted}).
   *
   * @param routed hellos whose server name matched a route
   * @param defaulted connections sent to the default cluster: a name no route matches, or (unless
   *     {@link TcpProxyBuilder#closeWithoutServerName(boolean) closeWithoutServerName}) no name or
   *     no TLS
   * @param notTls connections whose first byte is not a TLS handshake record
   * @param noServerName hellos without a server name
   * @param invalid broken hellos, or a client that closed before its hello was whole: closed
   * @param tooLarge hellos larger than {@link TcpProxyBuilder#maxHelloSize(int) maxHelloSize}:
   *     closed
   * @param timeouts hellos not whole within the handshake timeout: closed
   */
  public record Hellos(
      long routed,
      long defaulted,
      long notTls,
      long noServerName,
      long invalid,
      long tooLarge,
      long timeouts) {}
}
