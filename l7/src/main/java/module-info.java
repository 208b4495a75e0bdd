/**
 * meshlet's HTTP/1.1 and HTTP/2 (L7) proxy: {@link dev.meshlet.l7.HttpProxy} on Jetty's server and
 * client. It reaches core's internal package (admission permits, endpoint leases, the journal
 * writer), which core exports to meshlet's own modules only. No Jetty type is in its API, so Jetty
 * is not required transitively.
 */
// "l7" ends in a digit, which javac's lint warns of: it is the layer's name, as in the artifact's
@SuppressWarnings("module")
module dev.meshlet.l7 {
  requires transitive dev.meshlet.core;
  requires transitive dev.meshlet.l4;
  requires static transitive org.jspecify;
  requires org.eclipse.jetty.alpn.server;
  requires org.eclipse.jetty.client;
  requires org.eclipse.jetty.compression;
  requires org.eclipse.jetty.compression.gzip;
  requires org.eclipse.jetty.compression.server;
  requires org.eclipse.jetty.http2.client;
  requires org.eclipse.jetty.http2.client.transport;
  requires org.eclipse.jetty.http2.common;
  requires org.eclipse.jetty.http2.hpack;
  requires org.eclipse.jetty.http2.server;
  requires org.eclipse.jetty.http;
  requires org.eclipse.jetty.io;
  requires org.eclipse.jetty.server;
  requires org.eclipse.jetty.util;
  requires org.eclipse.jetty.util.ajax;
  requires org.slf4j;

  // the JDK's ALPN for Jetty's TLS, on both sides: found as services, never referenced
  requires org.eclipse.jetty.alpn.java.client;
  requires org.eclipse.jetty.alpn.java.server;

  exports dev.meshlet.l7;
  // the stats as metric families, for the admin endpoint and the Micrometer binders only
  exports dev.meshlet.l7.internal to
      dev.meshlet.admin,
      dev.meshlet.micrometer;
}
