package dev.meshlet.l7;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import org.eclipse.jetty.http.HttpField;
import org.eclipse.jetty.http.HttpFields;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.server.Request;
import org.jspecify.annotations.Nullable;

/**
 * What the proxy knows of gRPC (PROTOCOL-HTTP2 of grpc/grpc): which requests are gRPC calls, their
 * {@code grpc-timeout}, the status a response head carries, and the gRPC status of the proxy's own
 * answers. Stateless.
 */
final class Grpc {
  /** DEADLINE_EXCEEDED. */
  static final int DEADLINE_EXCEEDED = 4;

  /** UNAVAILABLE. */
  static final int UNAVAILABLE = 14;

  static final String STATUS = "grpc-status";
  static final String MESSAGE = "grpc-message";
  static final String TIMEOUT = "grpc-timeout";
  static final String CONTENT_TYPE = "application/grpc";

  private static final String HEX = "0123456789ABCDEF";

  private Grpc() {}

  /**
   * Whether {@code request} is a gRPC call: its content type is {@code application/grpc}, alone or
   * with a {@code +codec} or parameters (gRPC-Web's {@code application/grpc-web} is not: its status
   * travels in the body).
   */
  static boolean is(Request request) {
    String type = request.getHeaders().get(HttpHeader.CONTENT_TYPE);
    if (type == null || !type.regionMatches(true, 0, CONTENT_TYPE, 0, CONTENT_TYPE.length())) {
      return false;
    }
    if (type.length() == CONTENT_TYPE.length()) {
      return true;
    }
    char next = type.charAt(CONTENT_TYPE.length());
    return next == '+' || next == ';';
  }

  /**
   * The deadline of a request: {@code timeout}, the route's whole-request timeout (zero for none),
   * shortened to the call's {@code grpc-timeout} less the route's offset (at least 1 ms) for a gRPC
   * call that sends a well-formed one.
   */
  static Duration deadline(Duration timeout, HttpRoute route, Request request) {
    if (!is(request)) {
      return timeout;
    }
    long nanos = timeoutNanos(request.getHeaders().get(TIMEOUT));
    if (nanos <= 0) {
      return timeout;
    }
    nanos = Math.max(1_000_000L, nanos - route.grpcTimeoutOffset.toNanos());
    return !timeout.isZero() && timeout.toNanos() <= nanos ? timeout : Duration.ofNanos(nanos);
  }

  /**
   * The timeout {@code value} says, in ns: 1 to 8 ASCII digits and a unit, {@code H} hours, {@code
   * M} minutes, {@code S} seconds, {@code m} milliseconds, {@code u} microseconds, {@code n}
   * nanoseconds. -1 for none or a malformed value (ignored, as Envoy does: the route's timeout
   * applies), and for 0, which the wire format does not allow.
   */
  static long timeoutNanos(@Nullable String value) {
    if (value == null || value.length() < 2 || value.length() > 9) {
      return -1;
    }
    long n = 0;
    int digits = value.length() - 1;
    for (int i = 0; i < digits; i++) {
      char c = value.charAt(i);
      if (c < '0' || c > '9') {
        return -1;
      }
      n = n * 10 + (c - '0');
    }
    if (n == 0) {
      return -1;
    }
    long unit =
        switch (value.charAt(digits)) {
          case 'H' -> 3_600_000_000_000L;
          case 'M' -> 60_000_000_000L;
          case 'S' -> 1_000_000_000L;
          case 'm' -> 1_000_000L;
          case 'u' -> 1_000L;
          case 'n' -> 1L;
          default -> 0;
        };
    return unit == 0 ? -1 : Math.multiplyHigh(n, unit) != 0 ? Long.MAX_VALUE : n * unit;
  }

  /**
   * The gRPC status a response head carries (a Trailers-Only response: the status is in the
   * headers); -1 when it carries none or one that is not a number.
   */
  static int status(HttpFields headers) {
    HttpField f = headers.getField(STATUS);
    if (f == null) {
      return -1;
    }
    String v = f.getValue().strip();
    if (v.isEmpty() || v.length() > 2) {
      return -1;
    }
    int code = 0;
    for (int i = 0; i < v.length(); i++) {
      char c = v.charAt(i);
      if (c < '0' || c > '9') {
        return -1;
      }
      code = code * 10 + (c - '0');
    }
    return code;
  }

  /**
   * The gRPC status of the proxy's own answer of HTTP {@code status}, as gRPC's
   * http-grpc-status-mapping and Envoy's local replies map it (400 INTERNAL, 401 UNAUTHENTICATED,
   * 403 PERMISSION_DENIED, 404 UNIMPLEMENTED, 429, 502, 503 and 504 UNAVAILABLE, else UNKNOWN),
   * except that a deadline or timeout that passed ({@link
   * HttpProxyStats.ErrorKind#GATEWAY_TIMEOUT}) is DEADLINE_EXCEEDED, what the caller's own deadline
   * would have said.
   */
  static int localStatus(int status, HttpProxyStats.@Nullable ErrorKind kind) {
    if (kind == HttpProxyStats.ErrorKind.GATEWAY_TIMEOUT) {
      return DEADLINE_EXCEEDED;
    }
    return switch (status) {
      case 400 -> 13;
      case 401 -> 16;
      case 403 -> 7;
      case 404 -> 12;
      case 429, 502, 503, 504 -> UNAVAILABLE;
      default -> 2;
    };
  }

  /**
   * {@code text} as a {@code grpc-message} value: UTF-8, each byte outside printable ASCII, and
   * {@code %}, percent-encoded.
   */
  static String encodeMessage(String text) {
    byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
    StringBuilder b = new StringBuilder(bytes.length + 8);
    for (byte x : bytes) {
      int c = x & 0xff;
      if (c >= 0x20 && c <= 0x7e && c != '%') {
        b.append((char) c);
      } else {
        b.append('%').append(HEX.charAt(c >> 4)).append(HEX.charAt(c & 15));
      }
    }
    return b.toString();
  }
}
