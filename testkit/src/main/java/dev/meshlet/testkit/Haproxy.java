package dev.meshlet.testkit;

import java.io.File;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

/**
 * HAProxy as a real peer of the PROXY protocol, run in the foreground from a config written for one
 * test; tests that need it skip when {@code haproxy} is not on the PATH.
 *
 * <pre>{@code
 * assumeThat(Haproxy.installed()).isTrue();
 * Haproxy front = resources.track(Haproxy.tcp("", proxy.port(), "send-proxy-v2"));
 * }</pre>
 */
public final class Haproxy implements AutoCloseable {
  private final Process process;
  private final Path dir;
  private final int port;

  private Haproxy(Process process, Path dir, int port) {
    this.process = process;
    this.dir = dir;
    this.port = port;
  }

  /** The port HAProxy listens on, on 127.0.0.1. */
  public int port() {
    return port;
  }

  /** Whether an {@code haproxy} executable is on the PATH. */
  public static boolean installed() {
    String path = System.getenv("PATH");
    if (path == null) {
      return false;
    }
    for (String d : path.split(File.pathSeparator)) {
      if (Files.isExecutable(Path.of(d, "haproxy"))) {
        return true;
      }
    }
    return false;
  }

  /**
   * A TCP-mode HAProxy on a free port forwarding to {@code 127.0.0.1:backendPort}; {@code bind} and
   * {@code server} are the options of its listener and of its one server ({@code accept-proxy},
   * {@code send-proxy-v2}, …).
   *
   * @param bind options of the {@code bind} line
   * @param backendPort the port of the one server
   * @param server options of the {@code server} line
   * @throws IOException if the config cannot be written or HAProxy not started
   */
  public static Haproxy tcp(String bind, int backendPort, String server) throws IOException {
    return start(bind, backendPort, server, "");
  }

  /**
   * As {@link #tcp(String, int, String)}, with {@code rules} (lines such as {@code tcp-request
   * connection set-src ipv4(203.0.113.7)}) added to the listener.
   *
   * @param bind options of the {@code bind} line
   * @param backendPort the port of the one server
   * @param server options of the {@code server} line
   * @param rules more lines of the listener
   * @throws IOException if the config cannot be written or HAProxy not started
   */
  public static Haproxy start(String bind, int backendPort, String server, String rules)
      throws IOException {
    int port = freePort();
    Path dir = Files.createTempDirectory("meshlet-haproxy");
    String config =
        String.join(
            "\n",
            "global",
            "  maxconn 100",
            "defaults",
            "  mode tcp",
            "  timeout connect 5s",
            "  timeout client 30s",
            "  timeout server 30s",
            "listen front",
            "  bind 127.0.0.1:" + port + " " + bind,
            "  " + rules,
            "  server s1 127.0.0.1:" + backendPort + " " + server,
            "");
    Path file = dir.resolve("haproxy.cfg");
    Files.writeString(file, config, StandardCharsets.US_ASCII);
    Process p =
        new ProcessBuilder("haproxy", "-db", "-f", file.toString())
            .redirectErrorStream(true)
            .redirectOutput(dir.resolve("haproxy.log").toFile())
            .start();
    Haproxy h = new Haproxy(p, dir, port);
    h.awaitListening();
    return h;
  }

  private void awaitListening() throws IOException {
    long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
    while (System.nanoTime() - deadline < 0) {
      if (!process.isAlive()) {
        throw new IllegalStateException("haproxy exited: " + log());
      }
      try {
        new Socket(InetAddress.getLoopbackAddress(), port).close();
        return;
      } catch (IOException notYet) {
        LockSupport.parkNanos(20_000_000); // polling for the port to open
      }
    }
    throw new IllegalStateException("haproxy did not listen within 20 s: " + log());
  }

  /**
   * What HAProxy printed so far, for failure messages.
   *
   * @throws IOException if the log cannot be read
   */
  public String log() throws IOException {
    Path log = dir.resolve("haproxy.log");
    return Files.exists(log) ? Files.readString(log) : "";
  }

  private static int freePort() throws IOException {
    try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      return s.getLocalPort();
    }
  }

  @Override
  public void close() throws IOException {
    process.destroy();
    try {
      if (!process.waitFor(10, TimeUnit.SECONDS)) {
        process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
