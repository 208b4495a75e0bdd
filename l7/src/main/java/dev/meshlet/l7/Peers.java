package dev.meshlet.l7;

import dev.meshlet.core.PeerIdentity;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.cert.Certificate;
import java.security.cert.CertificateEncodingException;
import java.security.cert.X509Certificate;
import java.util.HexFormat;
import javax.net.ssl.SSLSession;
import org.eclipse.jetty.io.EndPoint;
import org.eclipse.jetty.server.Request;
import org.jspecify.annotations.Nullable;

/**
 * The client's TLS identity as Jetty hands it to a request, and the {@code x-forwarded-client-cert}
 * header that describes it to a backend. Stateless.
 */
final class Peers {
  /** Envoy's header: the proxy vouches for the client's certificate. */
  static final String XFCC = "x-forwarded-client-cert";

  private Peers() {}

  /** The client's verified leaf certificate, or null (plain connection, no certificate sent). */
  static @Nullable X509Certificate certificate(Request request) {
    // a plain connection has no session: skip the attribute lookup every request would pay
    if (!request.isSecure()
        || !(request.getAttribute(EndPoint.SslSessionData.ATTRIBUTE)
            instanceof EndPoint.SslSessionData data)) {
      return null;
    }
    X509Certificate[] chain = data.peerCertificates();
    return chain == null || chain.length == 0 ? null : chain[0];
  }

  /**
   * The {@code x-forwarded-client-cert} value for the request's client, in Envoy's shape ({@code
   * By=<proxy's URI SAN>;Hash=<sha-256 hex>;Subject="...";URI=...;DNS=...}), or null when it showed
   * no certificate.
   */
  static @Nullable String xfcc(Request request) {
    X509Certificate peer = certificate(request);
    if (peer == null) {
      return null;
    }
    StringBuilder sb = new StringBuilder(256);
    String by = localUri(request);
    if (by != null) {
      sb.append("By=").append(quoted(by)).append(';');
    }
    sb.append("Hash=").append(sha256(peer));
    PeerIdentity id = PeerIdentity.from(peer);
    sb.append(";Subject=\"").append(escaped(id.subject())).append('"');
    for (String u : id.uris()) {
      sb.append(";URI=").append(quoted(u));
    }
    for (String d : id.dnsNames()) {
      sb.append(";DNS=").append(quoted(d));
    }
    return sb.toString();
  }

  /** The first URI name of the certificate the proxy showed on this connection. */
  private static @Nullable String localUri(Request request) {
    if (!(request.getAttribute(EndPoint.SslSessionData.ATTRIBUTE)
        instanceof EndPoint.SslSessionData data)) {
      return null;
    }
    SSLSession session = data.sslSession();
    Certificate[] local = session == null ? null : session.getLocalCertificates();
    if (local == null || local.length == 0 || !(local[0] instanceof X509Certificate mine)) {
      return null;
    }
    return PeerIdentity.from(mine).uris().stream().findFirst().orElse(null);
  }

  private static String sha256(X509Certificate c) {
    try {
      return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(c.getEncoded()));
    } catch (NoSuchAlgorithmException | CertificateEncodingException e) {
      throw new IllegalStateException("hashing the client certificate", e);
    }
  }

  /** A value as Envoy writes it: quoted when it holds a separator ({@code , ; =}) or a quote. */
  private static String quoted(String v) {
    for (int i = 0; i < v.length(); i++) {
      char c = v.charAt(i);
      if (c == ',' || c == ';' || c == '=' || c == '"') {
        return '"' + escaped(v) + '"';
      }
    }
    return v;
  }

  private static String escaped(String v) {
    return v.replace("\\", "\\\\").replace("\"", "\\\"");
  }
}
