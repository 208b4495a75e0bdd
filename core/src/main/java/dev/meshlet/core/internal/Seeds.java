package dev.meshlet.core.internal;

import dev.meshlet.core.Cluster;
import java.util.Objects;

/**
 * Hands a proxy's seed to the clusters it routes to, so a seeded proxy's random balancing replays
 * too.
 */
public final class Seeds {
  private Seeds() {}

  /**
   * Gives {@code cluster} {@code seed} for its random choices unless it already has one (its own,
   * from {@link Cluster.Builder#seed(long)}, or one offered before: the first offer wins, so a
   * cluster shared by several proxies follows the first that offered). The cluster's picks draw
   * from it from the next pick on.
   *
   * @return whether the cluster took the seed
   */
  public static boolean offer(Cluster cluster, long seed) {
    return Access.clusters().offerSeed(Objects.requireNonNull(cluster, "cluster"), seed);
  }
}
