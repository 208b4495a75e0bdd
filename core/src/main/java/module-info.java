/**
 * meshlet's shared model: backends, clusters, balancers, routes, health and the journal. The
 * internal package is for meshlet's own proxies and test kit only.
 */
module dev.meshlet.core {
  requires static transitive org.jspecify;

  exports dev.meshlet.core;
  exports dev.meshlet.core.internal to
      dev.meshlet.l4,
      dev.meshlet.l7,
      dev.meshlet.junit,
      dev.meshlet.admin;
}
