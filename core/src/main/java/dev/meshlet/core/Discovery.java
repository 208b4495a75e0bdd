package dev.meshlet.core;

import java.util.List;

/**
 * Where a cluster's backends come from when code does not list them: DNS ({@link DnsDiscovery}), a
 * control plane, a file. A discovery is given to {@link Cluster.Builder#discovery(Discovery)}; the
 * cluster starts it once it is built and closes it with {@link Cluster#close()}.
 *
 * <p>Each set a discovery delivers goes through the cluster's live-update path ({@link
 * Cluster#replaceBackends}): backends that stay keep their endpoint (counters, health, ejection,
 * the balancer's state), new ones join, missing ones leave while what is in flight to them runs to
 * its end. A failed lookup changes nothing: the last set delivered stays in force.
 */
public interface Discovery extends AutoCloseable {
  /**
   * Starts delivering to {@code sink}, on a thread of the discovery's own; called once. Returns
   * without waiting for the first answer.
   */
  void start(Sink sink);

  /** Stops delivering and frees the discovery's thread; idempotent. */
  @Override
  void close();

  /** What the cluster offers its discovery. */
  interface Sink {
    /** The cluster's name, for the discovery's logs and thread names. */
    String clusterName();

    /**
     * Replaces the cluster's backends with {@code backends}, the complete current set.
     *
     * @return whether anything changed
     * @throws IllegalArgumentException when two backends share a host and port
     */
    boolean update(List<Backend> backends);
  }
}
