package dev.meshlet.l7;

import dev.meshlet.core.PeerIdentity;
import java.security.cert.X509Certificate;
import java.util.List;
import org.eclipse.jetty.http.HttpFields;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.http.HttpURI;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.util.Fields;
import org.eclipse.jetty.util.HostPort;
import org.eclipse.jetty.util.UrlEncoded;
import org.jspecify.annotations.Nullable;

/**
 * The one {@link RequestHead}: a view over Jetty's parsed URI and header fields, for the proxy the
 * very objects its server parsed. Nothing is copied per request; the query is decoded only when a
 * route asks for a parameter, and then once. A head built for a test goes through the same class,
 * so a route behaves in a test as it does in the proxy.
 */
final class HeadView implements RequestHead {
  private final String method;
  private final HttpURI uri;
  private final HttpFields fields;
  private final String path;

  /** The client's verified certificate, read into {@link #peer} when a route first asks. */
  private final @Nullable X509Certificate peerCertificate;

  private volatile @Nullable PeerIdentity peer;

  /**
   * Decoded on first use; volatile because a head built by a user may be shared between threads.
   */
  private volatile @Nullable Fields query;

  private HeadView(
      String method,
      HttpURI uri,
      HttpFields fields,
      String path,
      @Nullable X509Certificate peerCertificate,
      @Nullable PeerIdentity peer) {
    this.method = method;
    this.uri = uri;
    this.fields = fields;
    this.path = path;
    this.peerCertificate = peerCertificate;
    this.peer = peer;
  }

  /**
   * The proxy's view of {@code request}, whose decoded, normalized path it has already computed.
   */
  static HeadView of(Request request, String path) {
    return new HeadView(
        request.getMethod(),
        request.getHttpURI(),
        request.getHeaders(),
        path,
        Peers.certificate(request),
        null);
  }

  /**
   * A head built by {@link RequestHead.Builder}: {@code headers} holds names and values in turn.
   */
  static HeadView of(
      String method,
      String target,
      @Nullable String host,
      List<String> headers,
      @Nullable PeerIdentity peer) {
    HttpFields.Mutable f = HttpFields.build();
    String authority = host;
    for (int i = 0; i < headers.size(); i += 2) {
      if (authority == null && HttpHeader.HOST.is(headers.get(i))) {
        authority = headers.get(i + 1);
      }
    }
    if (host != null) {
      f.add(HttpHeader.HOST, host);
    }
    for (int i = 0; i < headers.size(); i += 2) {
      f.add(headers.get(i), headers.get(i + 1));
    }
    HttpURI.Mutable u = HttpURI.build();
    if (authority != null) {
      HostPort hp;
      try {
        hp = new HostPort(authority.strip());
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException(
            "host '" + authority + "': expected host or host:port", e);
      }
      u.scheme("http").host(hp.getHost()).port(hp.getPort());
    }
    try {
      u.pathQuery(target);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("target '" + target + "': not a valid path and query", e);
    }
    HttpURI parsed = u.asImmutable();
    String canonical = parsed.getCanonicalPath();
    if (canonical == null
        || !TargetCheck.percentEncodingValid(parsed.getPath(), parsed.getQuery())) {
      throw new IllegalArgumentException("target '" + target + "': not a valid path and query");
    }
    HeadView head = new HeadView(method, parsed, f.asImmutable(), canonical, null, peer);
    try {
      head.query();
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(
          "target '" + target + "': query is not UTF-8 once decoded", e);
    }
    return head;
  }

  /** The header fields, for matchers that look at every value of a name without allocating. */
  HttpFields fields() {
    return fields;
  }

  /** Whether header {@code name} is present, with any value. */
  boolean hasHeader(String name) {
    return fields.contains(name);
  }

  /** Whether query parameter {@code name} has the decoded value {@code value}. */
  boolean hasQueryParam(String name, String value) {
    Fields q = query();
    Fields.Field f = q == null ? null : q.get(name);
    return f != null && f.getValues().contains(value);
  }

  @Override
  public String method() {
    return method;
  }

  @Override
  public String path() {
    return path;
  }

  @Override
  public String rawPath() {
    return uri.getPath();
  }

  @Override
  public @Nullable String rawQuery() {
    return uri.getQuery();
  }

  @Override
  public @Nullable String host() {
    return uri.getHost();
  }

  @Override
  public @Nullable String header(String name) {
    return fields.get(name);
  }

  @Override
  public List<String> headers(String name) {
    return List.copyOf(fields.getValuesList(name));
  }

  @Override
  public @Nullable String queryParam(String name) {
    Fields q = query();
    return q == null ? null : q.getValue(name);
  }

  @Override
  public List<String> queryParams(String name) {
    Fields q = query();
    List<String> values = q == null ? null : q.getValues(name);
    return values == null ? List.of() : List.copyOf(values);
  }

  @Override
  public @Nullable PeerIdentity peer() {
    PeerIdentity p = peer;
    X509Certificate c = peerCertificate;
    if (p == null && c != null) {
      p = PeerIdentity.from(c);
      peer = p;
    }
    return p;
  }

  /** The decoded query, or null when the request has none. */
  private @Nullable Fields query() {
    Fields q = query;
    if (q == null) {
      String raw = uri.getQuery();
      if (raw == null || raw.isEmpty()) {
        return null;
      }
      q = new Fields(true);
      UrlEncoded.decodeUtf8To(raw, q); // invalid UTF-8 throws: the proxy answers 400
      query = q;
    }
    return q;
  }

  /** Method, path and host only: header values and the query may carry secrets. */
  @Override
  public String toString() {
    String h = uri.getHost();
    return "RequestHead[" + method + " " + uri.getPath() + (h == null ? "" : " host=" + h) + "]";
  }
}
