package dev.meshlet.l7;

import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.util.concurrent.ThreadLocalRandom;
import org.eclipse.jetty.http.HttpException;
import org.eclipse.jetty.http.HttpField;
import org.eclipse.jetty.http.HttpFields;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.http.HttpMethod;
import org.eclipse.jetty.http.HttpURI;
import org.eclipse.jetty.http.HttpVersion;
import org.eclipse.jetty.io.EndPoint;
import org.eclipse.jetty.io.EofException;
import org.eclipse.jetty.server.Request;
import org.jspecify.annotations.Nullable;

/**
 * The checks a client request must pass before any backend is picked or dialed, what else the proxy
 * reads from it before routing, and how to read the client's failures. Stateless.
 */
final class RequestChecks {
  private RequestChecks() {}

  /** Why a client request is answered by the proxy itself, before routing. */
  enum Refusal {
    /** CONNECT: only the clusters' backends are ever contacted. */
    CONNECT(405, HttpProxyStats.ErrorKind.METHOD_NOT_ALLOWED),
    /** Malformed, ambiguous or unforwardable. */
    BAD_REQUEST(400, HttpProxyStats.ErrorKind.BAD_REQUEST),
    /** A target longer than the configured maximum. */
    URI_TOO_LONG(414, HttpProxyStats.ErrorKind.URI_TOO_LONG);

    final int status;
    final HttpProxyStats.ErrorKind kind;

    Refusal(int status, HttpProxyStats.ErrorKind kind) {
      this.status = status;
      this.kind = kind;
    }
  }

  /** What is wrong with {@code clientRequest}, or null when it may be routed. */
  static @Nullable Refusal check(Request clientRequest, ProxyConfig config) {
    String method = clientRequest.getMethod();
    if (HttpMethod.CONNECT.is(method)) {
      return Refusal.CONNECT;
    }
    if (!TargetCheck.methodForwardable(method)) {
      // methods are case-sensitive and the proxy client would upper-case "get" into GET: refuse it
      return Refusal.BAD_REQUEST;
    }
    if (!framingIsUnambiguous(clientRequest)) {
      return Refusal.BAD_REQUEST;
    }
    HttpURI uri = clientRequest.getHttpURI();
    String rawPath = uri.getPath();
    String query = uri.getQuery();
    // OPTIONS * (RFC 9112 §3.2.4) asks about the server as a whole: forwarded as it is
    if (!asteriskForm(clientRequest)) {
      if (rawPath == null || rawPath.isEmpty() || rawPath.charAt(0) != '/') {
        // an authority-form or other target has nothing a backend could serve
        return Refusal.BAD_REQUEST;
      }
      if (rawPath.length() + (query == null ? 0 : query.length() + 1) > config.maxUriLength()) {
        return Refusal.URI_TOO_LONG;
      }
      if (!TargetCheck.percentEncodingValid(rawPath, query)) {
        return Refusal.BAD_REQUEST;
      }
    }
    if (config.rejectUnderscoreHeaders() && hasUnderscoreHeader(clientRequest)) {
      return Refusal.BAD_REQUEST;
    }
    return null;
  }

  /** Jetty's strict parser rejects most ambiguities; it still accepts codings before chunked. */
  private static boolean framingIsUnambiguous(Request clientRequest) {
    HttpFields headers = clientRequest.getHeaders();
    int te = 0;
    for (HttpField f : headers) {
      if (f.getHeader() == HttpHeader.TRANSFER_ENCODING) {
        te++;
        if (te > 1 || !"chunked".equalsIgnoreCase(f.getValue().strip())) {
          return false;
        }
      }
    }
    if (te > 0 && headers.contains(HttpHeader.CONTENT_LENGTH)) {
      return false;
    }
    return te == 0
        || clientRequest.getConnectionMetaData().getHttpVersion() != HttpVersion.HTTP_1_0;
  }

  private static boolean hasUnderscoreHeader(Request clientRequest) {
    for (HttpField f : clientRequest.getHeaders()) {
      if (f.getHeader() == null && TargetCheck.hasUnderscore(f.getName())) {
        return true;
      }
    }
    return false;
  }

  /**
   * The path routes match on: the decoded, normalized path (as a backend resolves it), or the raw
   * path when Jetty has none (its URI compliance answers such targets 400 before this).
   */
  static String routingPath(Request clientRequest) {
    HttpURI uri = clientRequest.getHttpURI();
    String canonical = uri.getCanonicalPath();
    return canonical != null ? canonical : uri.getPath();
  }

  /** Whether the request is {@code OPTIONS *}, the one request whose target is not a path. */
  static boolean asteriskForm(Request clientRequest) {
    HttpURI uri = clientRequest.getHttpURI();
    return "*".equals(uri.getPath())
        && uri.getQuery() == null
        && HttpMethod.OPTIONS.is(clientRequest.getMethod());
  }

  /** The client's key for the balancers (its address: the same client, the same sticky backend). */
  static long clientKey(Request clientRequest) {
    SocketAddress remote = clientRequest.getConnectionMetaData().getRemoteSocketAddress();
    if (remote instanceof InetSocketAddress isa && isa.getAddress() != null) {
      return isa.getAddress().hashCode();
    }
    return ThreadLocalRandom.current().nextLong();
  }

  /** Whether the client asks for {@code 100 Continue} (ignored from an HTTP/1.0 client). */
  static boolean expectsContinue(Request clientRequest) {
    return clientRequest.getHeaders().contains(HttpHeader.EXPECT, "100-continue")
        && clientRequest.getConnectionMetaData().getHttpVersion() != HttpVersion.HTTP_1_0;
  }

  /**
   * Whether the client's request failed for being malformed rather than for the client leaving.
   * Jetty reports both a bad chunk and a client gone mid-body as an early EOF; only the latter has
   * read the end of the client's stream.
   */
  static boolean malformed(Request clientRequest, @Nullable Throwable failure) {
    if (!(failure instanceof HttpException)) {
      return false;
    }
    if (!(failure instanceof EofException)) {
      return true;
    }
    EndPoint endPoint = clientRequest.getConnectionMetaData().getConnection().getEndPoint();
    return endPoint.isOpen() && !endPoint.isInputShutdown();
  }
}
