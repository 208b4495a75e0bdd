package dev.meshlet.core;

import java.util.List;
import org.jspecify.annotations.Nullable;

/**
 * Picks the endpoint of a {@link Cluster} that gets the next connection or request.
 *
 * <p>A balancer is a factory: each time the set of available endpoints changes, the cluster asks it
 * for a new {@link Picker} over the new set, and every pick goes to the current picker. Pickers are
 * immutable apart from their own counters, thread-safe, lock-free and allocate nothing per pick. A
 * picker built by the cluster sees the weights of the snapshot it is built for.
 *
 * <pre>{@code
 * Cluster api = Cluster.builder("api")
 *     .backends(Backend.of("127.0.0.1", 8081), Backend.of("127.0.0.1", 8082))
 *     .balancer(Balancer.leastConnections())
 *     .build();
 * }</pre>
 */
public interface Balancer {

  /**
   * A picker over {@code endpoints}, which is never empty and never changes afterwards.
   *
   * @param endpoints the endpoints currently available, in the cluster's order
   */
  Picker picker(List<Endpoint> endpoints);

  /** Picks from one fixed set of endpoints. */
  @FunctionalInterface
  interface Picker {
    /**
     * Picks an endpoint.
     *
     * @param key a hash of what identifies the client or request (e.g. the client address); only
     *     key-based balancers read it
     * @param attempt 0 for the first try, 1, 2, … for retries, which should prefer another endpoint
     * @return the endpoint, or {@code null} if none can be picked
     */
    @Nullable Endpoint pick(long key, int attempt);
  }

  /** Each endpoint in turn, ignoring weights. */
  static Balancer roundRobin() {
    return Balancers.ROUND_ROBIN;
  }

  /**
   * A uniformly random endpoint, weighted by {@link Backend#weight()}; replayable when the cluster
   * has a {@linkplain Cluster.Builder#seed(long) seed}.
   */
  static Balancer random() {
    return Balancers.RANDOM;
  }

  /**
   * nginx's smooth weighted round robin: over each cycle every endpoint gets exactly its weight's
   * share, interleaved rather than in bursts (weights 5,1,1 give a a b a c a a).
   */
  static Balancer weightedRoundRobin() {
    return Balancers.WEIGHTED_ROUND_ROBIN;
  }

  /**
   * Least connections by the power of two choices: two random endpoints, the one with fewer
   * requests or connections in flight per unit of weight wins. Picks stay O(1) and avoid the herd
   * that a global minimum sends to one fresh endpoint. The two choices are replayable when the
   * cluster has a {@linkplain Cluster.Builder#seed(long) seed}.
   */
  static Balancer leastConnections() {
    return Balancers.LEAST_CONNECTIONS;
  }

  /**
   * Consistent hashing on a ring (Envoy's {@code RING_HASH}): the same key goes to the same
   * endpoint, and removing one of N endpoints moves only the keys it owned (about 1/N). Each
   * endpoint gets {@code 160 × weight} points on the ring.
   */
  static Balancer consistentHash() {
    return Balancers.CONSISTENT_HASH;
  }
}
