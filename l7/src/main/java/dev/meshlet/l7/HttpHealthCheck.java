package dev.meshlet.l7;

import dev.meshlet.core.Endpoint;
import dev.meshlet.core.HealthCheck;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Objects;

/**
 * HTTP health checks for a {@link dev.meshlet.core.Cluster}: each probe sends {@code GET path} with
 * {@code Host} set to the endpoint's host and port, and the endpoint is healthy when the status
 * line arrives within the check's timeout with an expected status.
 *
 * <pre>{@code
 * Cluster api = Cluster.builder("api")
 *     .backends(Backend.of("10.0.0.1", 8080), Backend.of("10.0.0.2", 8080))
 *     .healthCheck(HttpHealthCheck.get("/healthz").withInterval(Duration.ofSeconds(2)))
 *     .build();
 * }</pre>
 *
 * <p>A probe opens a fresh connection (plain HTTP/1.1, {@code Connection: close}), reads only the
 * status line and closes; it runs on the cluster's health-check virtual threads and may block. For
 * a cluster the proxy reaches in h2c ({@link UpstreamProtocol#H2C}), whose backends may speak
 * nothing else, {@link #h2c(String, int...)} probes in h2c by prior knowledge.
 */
public final class HttpHealthCheck {
  private HttpHealthCheck() {}

  /** A check that expects {@code 200} for {@code GET path}, with the core defaults for timings. */
  public static HealthCheck get(String path) {
    return get(path, 200);
  }

  /**
   * A check that expects one of {@code statuses} for {@code GET path}, with the core defaults for
   * timings ({@link HealthCheck#of(HealthCheck.Probe)}); adjust them with {@code withInterval} etc.
   *
   * @throws IllegalArgumentException if the path does not start with {@code /} or holds spaces or
   *     control characters, or a status is outside 100-599
   */
  public static HealthCheck get(String path, int... statuses) {
    int[] expected = checked(path, statuses);
    return HealthCheck.of((endpoint, timeout) -> probe(endpoint, timeout, path, expected));
  }

  /**
   * A check that sends {@code GET path} in h2c by prior knowledge (the HTTP/2 preface, then one
   * stream), as the proxy speaks to a cluster with {@link UpstreamProtocol#H2C}, and expects one of
   * {@code statuses} (200 when none is given) within the check's timeout; core's defaults for
   * timings. The {@code :authority} is the endpoint's host and port.
   *
   * @throws IllegalArgumentException if the path does not start with {@code /} or holds spaces or
   *     control characters, or a status is outside 100-599
   */
  public static HealthCheck h2c(String path, int... statuses) {
    int[] expected = checked(path, statuses.length == 0 ? new int[] {200} : statuses);
    return HealthCheck.of(
        (endpoint, timeout) ->
            expected(H2cProbe.status(endpoint, timeout, path, authority(endpoint)), expected));
  }

  private static int[] checked(String path, int[] statuses) {
    Objects.requireNonNull(path, "path");
    if (!path.startsWith("/") || path.chars().anyMatch(c -> c <= ' ' || c >= 127)) {
      throw new IllegalArgumentException(
          "health check path '" + path + "': expected a path such as /healthz");
    }
    if (statuses.length == 0) {
      throw new IllegalArgumentException("health check statuses: none (expected: e.g. 200)");
    }
    for (int s : statuses) {
      if (s < 100 || s > 599) {
        throw new IllegalArgumentException("health check status: " + s + " (expected: 100-599)");
      }
    }
    return statuses.clone();
  }

  private static String authority(Endpoint endpoint) {
    String host = endpoint.backend().host();
    return (host.indexOf(':') >= 0 ? "[" + host + "]" : host) + ":" + endpoint.backend().port();
  }

  private static boolean expected(int status, int[] expected) {
    for (int s : expected) {
      if (s == status) {
        return true;
      }
    }
    return false;
  }

  static boolean probe(Endpoint endpoint, Duration timeout, String path, int[] expected)
      throws IOException {
    long deadline = System.nanoTime() + timeout.toNanos();
    InetSocketAddress address = endpoint.address();
    String host = endpoint.backend().host();
    String authority =
        (host.indexOf(':') >= 0 ? "[" + host + "]" : host) + ":" + endpoint.backend().port();
    try (Socket socket = new Socket()) {
      socket.connect(address, millisLeft(deadline));
      socket.setSoTimeout(millisLeft(deadline));
      OutputStream out = socket.getOutputStream();
      out.write(
          ("GET "
                  + path
                  + " HTTP/1.1\r\nHost: "
                  + authority
                  + "\r\nUser-Agent: meshlet-health-check\r\nAccept: */*\r\nConnection: close\r\n\r\n")
              .getBytes(StandardCharsets.US_ASCII));
      out.flush();
      // "HTTP/1.1 200 ..." : read up to the status code, never past the deadline
      InputStream in = socket.getInputStream();
      byte[] line = new byte[12];
      int n = 0;
      while (n < line.length) {
        socket.setSoTimeout(millisLeft(deadline));
        int r = in.read(line, n, line.length - n);
        if (r < 0) {
          return false;
        }
        n += r;
      }
      String head = new String(line, StandardCharsets.US_ASCII);
      if (!head.startsWith("HTTP/1.") || head.charAt(8) != ' ') {
        return false;
      }
      int status;
      try {
        status = Integer.parseInt(head.substring(9, 12));
      } catch (NumberFormatException e) {
        return false;
      }
      for (int s : expected) {
        if (s == status) {
          return true;
        }
      }
      return false;
    }
  }

  static int millisLeft(long deadline) throws SocketTimeoutException {
    long left = (deadline - System.nanoTime()) / 1_000_000L;
    if (left <= 0) {
      throw new SocketTimeoutException("health check timed out");
    }
    return (int) Math.min(Integer.MAX_VALUE, left);
  }
}
