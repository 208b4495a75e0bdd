package dev.meshlet.l4;

/**
 * A snapshot of a {@link TcpProxy}'s counters since it started. Per-backend counters live in the
 * cluster's {@link dev.meshlet.core.Endpoint#stats() endpoints}.
 *
 * @param accepted         client connections accepted (including rejected ones)
 * @param active           client connections open now
 * @param rejected         connections closed at once because {@code maxConnections} was reached
 * @param overflows        connections closed at once because the cluster's circuit breaker
 *                         ({@code maxActive}) was open
 * @param connectFailures  failed attempts to connect to a backend (each attempt counts)
 * @param noBackend        client connections closed because no backend could be reached or picked
 * @param idleTimeouts     connections closed by the idle timeout
 * @param resets           connections ended by a reset (either side), propagated to the other side
 * @param bytesUpstream    bytes forwarded from clients to backends
 * @param bytesDownstream  bytes forwarded from backends to clients
 * @param draining         whether {@link TcpProxy#close()} has begun and the proxy accepts no more
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
    boolean draining) {}
