package dev.meshlet.examples;

import dev.meshlet.core.Backend;
import dev.meshlet.core.Balancer;
import dev.meshlet.core.ClientTls;
import dev.meshlet.core.Cluster;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.time.Duration;
import java.util.Locale;
import java.util.Objects;
import org.jspecify.annotations.Nullable;

/** Parses the values flags take: addresses, backends, numbers, durations and balancers. */
final class Values {
  private Values() {}

  static Cluster cluster(String name, String backends, Balancer balancer, boolean resolve) {
    return cluster(name, backends, balancer, resolve, null);
  }

  /** A cluster of {@code backends}, reached over {@code tls} when it is set. */
  static Cluster cluster(
      String name, String backends, Balancer balancer, boolean resolve, @Nullable ClientTls tls) {
    Cluster.Builder c = Cluster.builder(name).balancer(balancer);
    if (tls != null) {
      c.tls(tls);
    }
    for (String part : backends.split(",", -1)) {
      c.backends(backend(part, resolve));
    }
    if (tls != null) {
      c.tls(tls);
    }
    return c.build();
  }

  /**
   * Parses {@code HOST:PORT}; with {@code resolve}, fails unless the host resolves now: a name that
   * does not would otherwise start a proxy that fails every connection to it without a word.
   */
  static Backend backend(String text, boolean resolve) {
    Backend backend;
    try {
      backend = Backend.parse(text);
    } catch (IllegalArgumentException e) {
      throw new UsageException(
          Objects.requireNonNullElse(e.getMessage(), "backend '" + text + "': not HOST:PORT"));
    }
    if (resolve) {
      try {
        InetAddress.getAllByName(backend.host());
      } catch (UnknownHostException e) {
        throw new UsageException(
            "backend '"
                + text
                + "': host '"
                + backend.host()
                + "' does not resolve ("
                + e.getMessage()
                + "); check the name, or give --defer-resolution to start anyway");
      }
    }
    return backend;
  }

  /**
   * {@code HOST:PORT}, {@code :PORT} or {@code PORT}; returns {host, port} with the port checked to
   * be 0-65535.
   */
  static String[] listen(String text) {
    int colon = text.lastIndexOf(':');
    String digits = text.substring(colon + 1);
    if (digits.isEmpty() || !digits.chars().allMatch(c -> c >= '0' && c <= '9')) {
      throw new UsageException("--listen '" + text + "': expected HOST:PORT (or PORT)");
    }
    String host = colon < 0 ? "0.0.0.0" : text.substring(0, colon);
    String port = text.substring(colon + 1);
    if (host.isEmpty()) {
      host = "0.0.0.0";
    }
    if (host.startsWith("[") && host.endsWith("]")) {
      host = host.substring(1, host.length() - 1);
    }
    port(port, "--listen");
    return new String[] {host, port};
  }

  static int port(String text, String flag) {
    int port = integer(text, flag);
    if (port < 0 || port > 65535) {
      throw new UsageException(flag + ": port " + port + " out of range (expected: 0-65535)");
    }
    return port;
  }

  static int integer(String text, String flag) {
    try {
      return Integer.parseInt(text);
    } catch (NumberFormatException e) {
      throw new UsageException(flag + ": '" + text + "' is not a number");
    }
  }

  static Balancer balancer(String name) {
    return switch (name.toLowerCase(Locale.ROOT)) {
      case "round-robin" -> Balancer.roundRobin();
      case "random" -> Balancer.random();
      case "weighted-round-robin" -> Balancer.weightedRoundRobin();
      case "least-connections" -> Balancer.leastConnections();
      case "consistent-hash" -> Balancer.consistentHash();
      default ->
          throw new UsageException(
              "--balancer '"
                  + name
                  + "' (expected: round-robin, random, weighted-round-robin, least-connections, consistent-hash)");
    };
  }

  /**
   * {@code 250ms}, {@code 2s}, {@code 5m}, {@code 1h}, or an ISO-8601 duration such as {@code
   * PT2S}.
   */
  static Duration duration(String text, String flag) {
    String t = text.strip().toLowerCase(Locale.ROOT);
    try {
      if (t.startsWith("pt")) {
        return Duration.parse(text.strip());
      }
      if (t.endsWith("ms")) {
        return Duration.ofMillis(Long.parseLong(t.substring(0, t.length() - 2)));
      }
      long n = Long.parseLong(t.substring(0, t.length() - 1));
      return switch (t.charAt(t.length() - 1)) {
        case 's' -> Duration.ofSeconds(n);
        case 'm' -> Duration.ofMinutes(n);
        case 'h' -> Duration.ofHours(n);
        default -> throw new NumberFormatException();
      };
    } catch (RuntimeException e) {
      throw new UsageException(
          flag + ": '" + text + "' is not a duration (expected e.g. 500ms, 2s, 1m, 1h)");
    }
  }
}
