package dev.meshlet.l7;

/**
 * The counts of one route's upgraded connections (WebSocket tunnels), spliced as TCP connections
 * are by {@code meshlet-l4}; from {@link HttpProxy#tunnelStats(String)}.
 *
 * @param opened tunnels spliced since the route's first one
 * @param open tunnels open now
 * @param bytesUpstream bytes sent client to backend, over every tunnel
 * @param bytesDownstream bytes sent backend to client, over every tunnel
 * @param toxicsApplied tunnel toxics that took effect on a tunnel (each draw that applied)
 * @param resets tunnels ended by a reset or an I/O error on one end
 * @param idleTimeouts tunnels ended as an end stayed idle for its idle timeout
 */
public record TunnelStats(
    long opened,
    int open,
    long bytesUpstream,
    long bytesDownstream,
    long toxicsApplied,
    long resets,
    long idleTimeouts) {}
