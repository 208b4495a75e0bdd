/**
 * meshlet's admin endpoint: {@link dev.meshlet.admin.Admin} serves Prometheus metrics, clusters,
 * config, readiness and drain for registered proxies, and a Toxiproxy-compatible HTTP API, on a
 * Jetty server of its own. No Jetty type is in its API.
 */
module dev.meshlet.admin {
  requires transitive dev.meshlet.l4;
  requires transitive dev.meshlet.l7;
  requires static transitive org.jspecify;
  requires org.eclipse.jetty.http;
  requires org.eclipse.jetty.io;
  requires org.eclipse.jetty.server;
  requires org.eclipse.jetty.util;
  requires org.eclipse.jetty.util.ajax;
  requires org.slf4j;

  exports dev.meshlet.admin;
}
