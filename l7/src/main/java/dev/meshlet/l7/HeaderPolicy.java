package dev.meshlet.l7;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.util.HashSet;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;
import org.eclipse.jetty.client.Response;
import org.eclipse.jetty.http.HttpField;
import org.eclipse.jetty.http.HttpFields;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.http.HttpURI;
import org.eclipse.jetty.http.HttpVersion;
import org.eclipse.jetty.server.Request;
import org.jspecify.annotations.Nullable;

/**
 * What passes from one leg to the next of the head: hop-by-hop fields dropped (and those named in
 * {@code Connection}), {@code X-Forwarded-*} and {@code Via} added, then the configured and the
 * route's rewrites. Stateless: everything it needs comes in as arguments.
 */
final class HeaderPolicy {
  private static final char[] HEX = "0123456789abcdef".toCharArray();
  static final String X_REQUEST_ID = "X-Request-ID";

  private HeaderPolicy() {}

  /**
   * Copies the client request's head into the proxy request's {@code out}, and notes in {@code
   * record} the request id and trace it went with (an id or a trace made here is made once, for all
   * tries of the request).
   */
  static void proxyRequestHeaders(
      Request clientRequest,
      HttpFields.Mutable out,
      ProxyConfig config,
      @Nullable HttpRoute route,
      RequestRecord record) {
    HttpFields in = clientRequest.getHeaders();
    Set<String> named = connectionTokens(in);
    boolean trusted = config.trusted(peerAddress(clientRequest));
    HttpVersion version = clientRequest.getConnectionMetaData().getHttpVersion();
    boolean http10 = version == HttpVersion.HTTP_1_0;
    StringBuilder xff = null;
    String via = null;
    String originalHost = null;
    String clientRequestId = null;
    String traceparent = null;
    int traceparents = 0;
    ResponseCompression compression = config.compression();
    boolean dropAcceptEncoding = compression != null && compression.removeAcceptEncoding();
    for (HttpField f : in) {
      HttpHeader h = f.getHeader();
      if (h != null) {
        switch (h) {
          case HOST -> {
            originalHost = f.getValue();
            out.add(f); // never stripped, even when named in Connection
            continue;
          }
          case TE -> {
            // an HTTP/2 client's "te: trailers" (the only TE HTTP/2 allows) says it takes
            // trailers, which the proxy forwards: gRPC backends require it
            if (version == HttpVersion.HTTP_2 && f.contains("trailers")) {
              out.add(HttpHeader.TE, "trailers");
            }
            continue;
          }
          case CONNECTION,
              KEEP_ALIVE,
              PROXY_CONNECTION,
              TRANSFER_ENCODING,
              UPGRADE,
              PROXY_AUTHENTICATE,
              PROXY_AUTHORIZATION,
              CONTENT_LENGTH -> {
            continue;
          }
          case ACCEPT_ENCODING -> { // the proxy compresses, when so configured
            if (dropAcceptEncoding) {
              continue;
            }
          }
          default -> {}
        }
      }
      if (named != null && named.contains(f.getLowerCaseName())) {
        continue;
      }
      if (h != null) {
        switch (h) {
          case X_FORWARDED_FOR -> {
            if (!config.dropClientForwardedFor()) {
              xff =
                  xff == null
                      ? new StringBuilder(f.getValue())
                      : xff.append(", ").append(f.getValue());
            }
            continue;
          }
          case X_FORWARDED_PROTO, X_FORWARDED_HOST, X_FORWARDED_PORT, FORWARDED -> {
            if (trusted) {
              out.add(f);
            }
            continue;
          }
          case VIA -> {
            via = via == null ? f.getValue() : via + ", " + f.getValue();
            continue;
          }
          case EXPECT -> {
            if (http10) {
              continue; // RFC 9110 §10.1.1: a 1.0 client's expectation is ignored, never passed on
            }
          }
          default -> {}
        }
      } else if (f.is(X_REQUEST_ID)) {
        if (clientRequestId == null) {
          clientRequestId = f.getValue();
        }
      } else if (f.is(TraceContext.TRACEPARENT)) {
        traceparent = f.getValue();
        traceparents++;
      } else if (f.is(Peers.XFCC)) {
        continue; // only the proxy vouches for a client certificate: never the client's own
      } else if (TargetCheck.hasUnderscore(f.getName())) {
        continue; // X_Forwarded_For reads as X-Forwarded-For to CGI-style backends: dropped, as
        // nginx does
      } else if (!trusted && (f.is("X-Real-IP") || f.is("X-Forwarded-Prefix"))) {
        continue;
      }
      out.add(f);
    }
    if (originalHost == null && version == HttpVersion.HTTP_2) {
      // HTTP/2 names the host in :authority, not in a Host header
      String authority = clientRequest.getHttpURI().getAuthority();
      if (authority != null && !authority.isEmpty()) {
        originalHost = authority;
        out.put(HttpHeader.HOST, authority);
      }
    }
    String peer = Request.getRemoteAddr(clientRequest);
    out.put(
        HttpHeader.X_FORWARDED_FOR, xff == null ? peer : xff.append(", ").append(peer).toString());
    if (!out.contains(HttpHeader.X_FORWARDED_PROTO)) {
      // the connection's security, not the request target's scheme, which the client chooses
      out.put(
          HttpHeader.X_FORWARDED_PROTO,
          clientRequest.getConnectionMetaData().isSecure() ? "https" : "http");
    }
    if (originalHost != null && !out.contains(HttpHeader.X_FORWARDED_HOST)) {
      out.put(HttpHeader.X_FORWARDED_HOST, originalHost);
    }
    if (!out.contains(HttpHeader.X_FORWARDED_PORT)) {
      out.put(HttpHeader.X_FORWARDED_PORT, Integer.toString(Request.getLocalPort(clientRequest)));
    }
    if (config.forwardClientCert()) {
      String xfcc = Peers.xfcc(clientRequest);
      if (xfcc != null) {
        out.put(Peers.XFCC, xfcc);
      }
    }
    String hop = viaVersion(version) + config.via();
    out.put(HttpHeader.VIA, via == null ? hop : via + ", " + hop);
    if (clientRequestId == null) {
      String id = record.requestId;
      if (id == null || !record.requestIdMade) { // a later try sends the id the first made
        id = newRequestId(); // made only when needed, once for all tries of a request
        record.requestIdMade = true;
        record.requestId = id;
      }
      out.put(X_REQUEST_ID, id);
    } else {
      record.requestId = clientRequestId;
    }
    trace(out, config, record, traceparents == 1 ? traceparent : null, traceparents);
    config.requestHeaders().apply(out);
    if (route != null) {
      route.requestHeaders().apply(out);
      String hostRewrite = route.hostRewrite();
      if (hostRewrite != null) {
        out.put(HttpHeader.HOST, hostRewrite);
      }
    }
  }

  /**
   * The proxy request's target: the client's path as the route rewrites it, and the client's query.
   */
  static String proxyRequestTarget(Request clientRequest, HttpRoute route) {
    HttpURI uri = clientRequest.getHttpURI();
    if (RequestChecks.asteriskForm(clientRequest)) {
      return "*"; // no path to rewrite
    }
    String rawPath = uri.getPath();
    String canonical = uri.getCanonicalPath();
    String path = route.rewritePath(rawPath, canonical == null ? rawPath : canonical);
    String query = uri.getQuery();
    return query == null ? path : path + '?' + query;
  }

  /**
   * Copies the server response's head into the client response's {@code out}.
   *
   * @return whether the server response is chunked (its trailers may then be passed on)
   */
  static boolean clientResponseHeaders(
      Response serverResponse,
      HttpFields.Mutable out,
      ProxyConfig config,
      @Nullable HttpRoute route) {
    int status = serverResponse.getStatus();
    HttpFields in = serverResponse.getHeaders();
    Set<String> named = connectionTokens(in);
    boolean chunked = false;
    String via = null;
    for (HttpField f : in) {
      HttpHeader h = f.getHeader();
      if (h != null) {
        switch (h) {
          case TRANSFER_ENCODING -> {
            chunked = true;
            continue;
          }
          case CONNECTION,
              KEEP_ALIVE,
              PROXY_CONNECTION,
              TE,
              UPGRADE,
              PROXY_AUTHENTICATE,
              PROXY_AUTHORIZATION -> {
            continue;
          }
          default -> {}
        }
      }
      if (named != null && named.contains(f.getLowerCaseName())) {
        continue;
      }
      if (h == HttpHeader.VIA) {
        via = via == null ? f.getValue() : via + ", " + f.getValue();
        continue;
      }
      if (h == HttpHeader.CONTENT_LENGTH && (status == 204 || status == 304)) {
        continue; // RFC 9110 §8.6: a 204 has none; a 304's would make Jetty expect a body it must
        // not send
      }
      out.add(f);
    }
    if (serverResponse.getVersion() == HttpVersion.HTTP_2) {
      chunked = true; // any HTTP/2 response may end with trailers
    }
    // RFC 9110 §7.6.3: a proxy adds itself to Via in both directions
    String hop = viaVersion(serverResponse.getVersion()) + config.via();
    out.put(HttpHeader.VIA, via == null ? hop : via + ", " + hop);
    if (route != null) {
      route.responseHeaders().apply(out);
    }
    config.responseHeaders().apply(out);
    return chunked;
  }

  /** The client's request trailers to pass on, filtered; null when none is left. */
  static @Nullable HttpFields proxyRequestTrailers(
      @Nullable HttpFields in, ProxyConfig config, @Nullable HttpRoute route) {
    return TrailerPolicy.filter(
        in, config.requestHeaders(), route == null ? null : route.requestHeaders());
  }

  /** The server's response trailers to pass on, filtered; null when none is left. */
  static @Nullable HttpFields clientResponseTrailers(
      @Nullable HttpFields in, ProxyConfig config, @Nullable HttpRoute route) {
    return TrailerPolicy.filter(
        in, route == null ? null : route.responseHeaders(), config.responseHeaders());
  }

  private static @Nullable InetAddress peerAddress(Request clientRequest) {
    SocketAddress remote = clientRequest.getConnectionMetaData().getRemoteSocketAddress();
    return remote instanceof InetSocketAddress isa ? isa.getAddress() : null;
  }

  /** The protocol version a Via entry names for a hop in {@code v}, with its space. */
  private static String viaVersion(HttpVersion v) {
    return v == HttpVersion.HTTP_1_0 ? "1.0 " : v == HttpVersion.HTTP_2 ? "2.0 " : "1.1 ";
  }

  /** The lower-case header names listed in Connection, or null when there are none. */
  static @Nullable Set<String> connectionTokens(HttpFields fields) {
    Set<String> names = null;
    for (HttpField f : fields) {
      if (f.getHeader() != HttpHeader.CONNECTION) {
        continue;
      }
      for (String token : f.getValues()) {
        String t = token.strip().toLowerCase(Locale.ROOT);
        if (t.isEmpty() || t.equals("close") || t.equals("keep-alive")) {
          continue;
        }
        if (names == null) {
          names = new HashSet<>();
        }
        names.add(t);
      }
    }
    return names;
  }

  /**
   * Passes a valid {@code traceparent} on as it came and notes its trace id. Without one (none,
   * several, or malformed), a proxy that starts traces replaces it and the {@code tracestate} with
   * a new trace, the same for every try; one that does not passes them on untouched.
   */
  private static void trace(
      HttpFields.Mutable out,
      ProxyConfig config,
      RequestRecord record,
      @Nullable String traceparent,
      int traceparents) {
    String traceId = traceparent == null ? null : TraceContext.traceId(traceparent);
    if (traceId == null && config.generateTraceparent()) {
      String made = record.traceparentMade;
      if (made == null) {
        made = TraceContext.newTraceparent();
        record.traceparentMade = made;
      }
      out.remove(TraceContext.TRACESTATE); // it belongs to a trace the request is not in
      out.put(TraceContext.TRACEPARENT, made);
      traceId = TraceContext.traceId(made);
    }
    record.traceId = traceId;
  }

  /** 128 random bits as 32 hex digits, without SecureRandom's contention. */
  static String newRequestId() {
    ThreadLocalRandom random = ThreadLocalRandom.current();
    char[] out = new char[32];
    long a = random.nextLong();
    long b = random.nextLong();
    for (int i = 0; i < 16; i++) {
      out[i] = HEX[(int) (a >>> (60 - 4 * i)) & 0xF];
      out[16 + i] = HEX[(int) (b >>> (60 - 4 * i)) & 0xF];
    }
    return new String(out);
  }
}
