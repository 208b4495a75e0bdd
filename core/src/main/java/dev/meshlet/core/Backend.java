package dev.meshlet.core;

import java.util.Objects;
import org.jspecify.annotations.Nullable;

/**
 * An upstream server a proxy may forward to: a host, a port, an optional name and a weight.
 *
 * <p>A backend is a plain value; the live state that goes with it (resolved address, counters) is
 * the {@link Endpoint} a {@link Cluster} creates for it.
 *
 * <pre>{@code
 * Backend a = Backend.of("127.0.0.1", 8081);
 * Backend b = Backend.parse("10.0.0.7:8080").withWeight(3).withName("b");
 * }</pre>
 *
 * @param host a host name or IP literal (IPv6 without brackets); resolved once, when a cluster
 *     adopts it
 * @param port 1 to 65535
 * @param name a display name for stats and logs, or {@code null} for {@code host:port}
 * @param weight relative share of traffic for weighted balancers, 1 to {@value #MAX_WEIGHT}
 */
public record Backend(String host, int port, @Nullable String name, int weight) {

  /** The largest weight a backend may have. */
  public static final int MAX_WEIGHT = 10_000;

  /** Validates every field; see the record description for the ranges. */
  public Backend {
    Objects.requireNonNull(host, "host");
    if (host.isBlank()) {
      throw new IllegalArgumentException("host: empty (expected: a host name or IP address)");
    }
    if (port < 1 || port > 65535) {
      throw new IllegalArgumentException("port: " + port + " (expected: 1-65535)");
    }
    if (weight < 1 || weight > MAX_WEIGHT) {
      throw new IllegalArgumentException("weight: " + weight + " (expected: 1-" + MAX_WEIGHT + ")");
    }
    if (name != null && name.isBlank()) {
      throw new IllegalArgumentException("name: blank (expected: null or a non-blank name)");
    }
  }

  /** A backend with weight 1 and no name. */
  public static Backend of(String host, int port) {
    return new Backend(host, port, null, 1);
  }

  /**
   * Parses {@code "host:port"} or {@code "[v6-address]:port"}.
   *
   * @throws IllegalArgumentException naming the text and what is wrong with it
   */
  public static Backend parse(String hostAndPort) {
    Objects.requireNonNull(hostAndPort, "hostAndPort");
    String text = hostAndPort.strip();
    int colon = text.lastIndexOf(':');
    if (colon <= 0 || colon == text.length() - 1) {
      throw new IllegalArgumentException(
          "backend '" + hostAndPort + "': expected host:port, e.g. 127.0.0.1:8080");
    }
    String host = text.substring(0, colon);
    String portText = text.substring(colon + 1);
    if (host.startsWith("[") && host.endsWith("]")) {
      host = host.substring(1, host.length() - 1);
    } else if (host.indexOf(':') >= 0) {
      throw new IllegalArgumentException(
          "backend '" + hostAndPort + "': an IPv6 address needs brackets, e.g. [::1]:8080");
    }
    int port;
    try {
      port = Integer.parseInt(portText);
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException(
          "backend '"
              + hostAndPort
              + "': port '"
              + portText
              + "' is not a number (expected: 1-65535)");
    }
    if (port < 1 || port > 65535) {
      throw new IllegalArgumentException(
          "backend '" + hostAndPort + "': port " + port + " out of range (expected: 1-65535)");
    }
    if (host.isBlank()) {
      throw new IllegalArgumentException("backend '" + hostAndPort + "': empty host");
    }
    return new Backend(host, port, null, 1);
  }

  /** This backend with another weight. */
  public Backend withWeight(int weight) {
    return new Backend(host, port, name, weight);
  }

  /** This backend with a display name. */
  public Backend withName(String name) {
    return new Backend(host, port, Objects.requireNonNull(name, "name"), weight);
  }

  /** {@code host:port}, with brackets around an IPv6 literal. */
  public String authority() {
    return host.indexOf(':') >= 0 ? "[" + host + "]:" + port : host + ":" + port;
  }

  /** The name if set, otherwise {@link #authority()}. */
  public String displayName() {
    return name != null ? name : authority();
  }

  @Override
  public String toString() {
    return name == null
        ? authority() + (weight == 1 ? "" : " weight=" + weight)
        : name + "(" + authority() + (weight == 1 ? "" : " weight=" + weight) + ")";
  }
}
