package dev.meshlet.l4;

import dev.meshlet.core.Cluster;
import java.util.List;
import java.util.Locale;
import org.jspecify.annotations.Nullable;

/**
 * Server-name routes of TLS passthrough, in the order given: the first whose pattern matches the
 * ClientHello's server name wins. A pattern is a host name ({@code db.example.com}) or {@code
 * *.suffix}, which matches any name ending in {@code .suffix} (not the suffix itself).
 */
record SniRoutes(List<Route> routes, boolean closeWithoutServerName) {
  /** One route: names matching {@code pattern} go to {@code cluster}. */
  record Route(String pattern, Cluster cluster) {
    /** Lower-cased; a wildcard kept as its suffix with the dot. */
    static Route of(String pattern, Cluster cluster) {
      String p = pattern.trim().toLowerCase(Locale.ROOT);
      if (p.endsWith(".")) {
        p = p.substring(0, p.length() - 1);
      }
      String host = p.startsWith("*.") ? p.substring(2) : p;
      if (host.isEmpty() || !validHost(host)) {
        throw new IllegalArgumentException(
            "sniRoute: '"
                + pattern
                + "' (expected: a host name such as db.example.com, or *.example.com)");
      }
      return new Route(p, cluster);
    }

    boolean matches(String name) {
      if (pattern.startsWith("*.")) {
        // "*.example.com" against "a.example.com": the name ends with ".example.com"
        return name.length() > pattern.length() - 1
            && name.regionMatches(
                name.length() - (pattern.length() - 1), pattern, 1, pattern.length() - 1);
      }
      return name.equals(pattern);
    }

    private static boolean validHost(String h) {
      for (int i = 0; i < h.length(); i++) {
        char c = h.charAt(i);
        boolean ok =
            (c >= 'a' && c <= 'z')
                || (c >= '0' && c <= '9')
                || c == '-'
                || c == '_'
                || (c == '.' && i > 0 && h.charAt(i - 1) != '.' && i < h.length() - 1);
        if (!ok) {
          return false;
        }
      }
      return true;
    }
  }

  SniRoutes {
    routes = List.copyOf(routes);
  }

  /** The cluster of the first route matching {@code serverName}, or null if none does. */
  @Nullable Cluster match(String serverName) {
    for (int i = 0; i < routes.size(); i++) {
      Route r = routes.get(i);
      if (r.matches(serverName)) {
        return r.cluster();
      }
    }
    return null;
  }
}
