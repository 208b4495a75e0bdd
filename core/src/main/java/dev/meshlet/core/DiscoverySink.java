package dev.meshlet.core;

import java.util.List;

/** What a cluster hands its {@link Discovery}: its name and its live-update path. */
record DiscoverySink(Cluster cluster) implements Discovery.Sink {
  @Override
  public String clusterName() {
    return cluster.name();
  }

  @Override
  public boolean update(List<Backend> backends) {
    return cluster.replaceBackends(backends);
  }
}
