package dev.meshlet.core;

/**
 * A snapshot of one endpoint's counters and state.
 *
 * <p>Made by meshlet for users to read, not to build: the canonical constructor is not part of the
 * supported API and may gain components in a minor release (new components are added last); read it
 * through the accessors.
 *
 * @param active connections or requests in flight now
 * @param total connections or requests ever started
 * @param failures connect failures and upstream errors
 * @param bytesIn bytes received from the backend
 * @param bytesOut bytes sent to the backend
 * @param inService whether it is still in its cluster (false once removed; in-flight work drains)
 * @param healthy whether active health checks pass (true without health checks)
 * @param ejected whether outlier detection has ejected it now
 * @param ejections how many times it was ejected
 * @param weight the weight balancers use now (lower during slow start)
 * @param healthTransitions how many times active health checks flipped it between healthy and
 *     unhealthy
 */
public record EndpointStats(
    long active,
    long total,
    long failures,
    long bytesIn,
    long bytesOut,
    boolean inService,
    boolean healthy,
    boolean ejected,
    int ejections,
    int weight,
    long healthTransitions) {}
