package dev.meshlet.l7;

import org.eclipse.jetty.client.Request;
import org.eclipse.jetty.http.HttpField;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.util.HostPort;

/**
 * An HTTP/2 request names its host in {@code :authority}, which Jetty's client takes from the
 * request's URI (the backend's address), not from {@code Host}. A proxy request keeps the host the
 * client named (or a route's host rewrite): the {@code Host} header becomes the authority, as RFC
 * 9113 §8.3.1 asks, and is not sent beside it.
 */
final class Http2Authority {
  private Http2Authority() {}

  /** Moves {@code proxyRequest}'s {@code Host} header into its URI's host and port. */
  static void fromHost(Request proxyRequest) {
    HttpField host = proxyRequest.getHeaders().getField(HttpHeader.HOST);
    if (host == null) {
      return;
    }
    HostPort hp;
    try {
      hp = new HostPort(host.getValue());
    } catch (IllegalArgumentException e) {
      return; // the server checked it; keep the backend's authority rather than fail here
    }
    proxyRequest.headers(h -> h.remove(HttpHeader.HOST));
    proxyRequest.host(hp.getHost());
    proxyRequest.port(hp.getPort() > 0 ? hp.getPort() : -1);
  }
}
