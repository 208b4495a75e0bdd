package dev.meshlet.core;

/**
 * A snapshot of a cluster's state.
 *
 * @param endpoints  endpoints in service (healthy or not)
 * @param available  endpoints the balancer picks from now (healthy and not ejected)
 * @param panic      whether no endpoint is available and the cluster is using all of them anyway
 * @param active     connections or requests in flight through the circuit breaker
 * @param overflows  connections or requests refused because {@code maxActive} was reached
 * @param ejections  outlier ejections so far
 */
public record ClusterStats(int endpoints, int available, boolean panic, int active, long overflows, long ejections) {}
