package dev.meshlet.core;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A snapshot of a cluster's state.
 *
 * <p>Made by meshlet for users to read, not to build: the canonical constructor is not part of the
 * supported API and may gain components in a minor release (new components are added last); read it
 * through the accessors.
 *
 * @param endpoints endpoints in service (healthy or not)
 * @param available endpoints the balancer picks from now (healthy and not ejected)
 * @param panic whether no endpoint is available and the cluster is using all of them anyway
 * @param active connections or requests in flight through the circuit breaker
 * @param overflows connections or requests refused because {@code maxActive} was reached
 * @param pending requests (L7) or connections (L4) waiting for a backend connection now
 * @param pendingOverflows requests or connections refused because {@code maxPending} were waiting
 * @param retriesActive retries in flight now
 * @param retryOverflows retries refused because the retry budget was spent
 * @param ejections outlier ejections so far
 * @param backends each endpoint in service, by {@link Backend#displayName()}, in the order they
 *     were added: health, ejection, weight and counters
 */
public record ClusterStats(
    int endpoints,
    int available,
    boolean panic,
    int active,
    long overflows,
    int pending,
    long pendingOverflows,
    int retriesActive,
    long retryOverflows,
    long ejections,
    Map<String, EndpointStats> backends) {

  /** Copies the map, keeping its order. */
  public ClusterStats {
    backends = Collections.unmodifiableMap(new LinkedHashMap<>(backends));
  }
}
