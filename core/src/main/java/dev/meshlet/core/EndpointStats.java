package dev.meshlet.core;

/**
 * A snapshot of one endpoint's counters.
 *
 * @param active     connections or requests in flight now
 * @param total      connections or requests ever started
 * @param failures   connect failures and upstream errors
 * @param bytesIn    bytes received from the backend
 * @param bytesOut   bytes sent to the backend
 * @param inService  whether the balancer may pick the endpoint (false once removed from its cluster)
 */
public record EndpointStats(
    long active, long total, long failures, long bytesIn, long bytesOut, boolean inService) {}
