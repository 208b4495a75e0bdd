package dev.meshlet.l7;

import org.jspecify.annotations.Nullable;

/**
 * Checks on a client's request that the server's parser lets through but that the proxy must catch
 * before dialing a backend: a failure there would otherwise be blamed on the backend.
 */
final class TargetCheck {
  private TargetCheck() {}

  /**
   * Whether every {@code %} in the path and query starts a valid percent-encoding ({@code %XX}, two
   * hex digits). Jetty's server accepts {@code ?a=100%} or {@code ?a=%ZZ}; its client then fails to
   * build the proxy request, and route matchers fail to decode the query.
   */
  static boolean percentEncodingValid(String rawPath, @Nullable String query) {
    return valid(rawPath) && (query == null || valid(query));
  }

  private static boolean valid(String s) {
    for (int i = s.indexOf('%'); i >= 0; i = s.indexOf('%', i + 3)) {
      if (i + 2 >= s.length() || !hex(s.charAt(i + 1)) || !hex(s.charAt(i + 2))) {
        return false;
      }
    }
    return true;
  }

  private static boolean hex(char c) {
    return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F';
  }

  /**
   * Whether {@code method} can be forwarded as is: methods are case-sensitive (RFC 9110 §9.1) and
   * Jetty's client upper-cases them, so one with a lower-case letter ({@code get}) would change.
   */
  static boolean methodForwardable(String method) {
    for (int i = 0, n = method.length(); i < n; i++) {
      char c = method.charAt(i);
      if (c >= 'a' && c <= 'z') {
        return false;
      }
    }
    return true;
  }

  /** Whether a header name holds an underscore (ambiguous with a dash in CGI-style backends). */
  static boolean hasUnderscore(String name) {
    return name.indexOf('_') >= 0;
  }
}
