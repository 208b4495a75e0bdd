package dev.meshlet.junit;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import dev.meshlet.core.Backend;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicLong;
import org.jspecify.annotations.Nullable;

/**
 * A small named HTTP/1.1 backend on 127.0.0.1 and an ephemeral port, to put behind a proxy in a
 * test. Every response carries {@code X-Backend: NAME}; what it answers is asked for in the query:
 *
 * <ul>
 *   <li>by default, 200 with the body {@code NAME} and a newline;
 *   <li>{@code ?status=503}: that status (the same body);
 *   <li>{@code ?delay=250ms} (or {@code 2s}, or a number of milliseconds): waits that long first;
 *   <li>{@code ?size=65536}: a body of that many bytes instead of the name;
 *   <li>the path {@code /echo}: the request back as text, its request line, headers and body.
 * </ul>
 *
 * A parameter it cannot read is answered 400 with the reason. It runs on the JDK's own HTTP server
 * (no dependency), one virtual thread per exchange.
 *
 * <pre>{@code
 * try (HttpTestBackend a = HttpTestBackend.start("a");
 *     TcpProxy proxy = TcpProxy.builder().listen("127.0.0.1", 0).backends(a.backend()).start()) {
 *   // GET http://127.0.0.1:{proxy.port()}/?status=503 is answered 503 by backend "a"
 * }
 * }</pre>
 */
public final class HttpTestBackend implements AutoCloseable {
  /** The largest body {@code ?size=} asks for; more is a mistake in a test. */
  static final long MAX_SIZE = 256L * 1024 * 1024;

  /** The longest wait {@code ?delay=} asks for. */
  static final Duration MAX_DELAY = Duration.ofMinutes(5);

  private final String name;
  private final HttpServer server;
  private final ExecutorService executor;
  private final AtomicLong requests = new AtomicLong();

  private HttpTestBackend(String name, HttpServer server, ExecutorService executor) {
    this.name = name;
    this.server = server;
    this.executor = executor;
  }

  /**
   * Starts a backend named {@code name} on 127.0.0.1 and a free port.
   *
   * @throws UncheckedIOException if no port can be bound
   */
  public static HttpTestBackend start(String name) {
    Objects.requireNonNull(name, "name");
    ExecutorService executor = Executors.newVirtualThreadPerTaskExecutor();
    HttpServer server;
    try {
      server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 1024);
    } catch (IOException e) {
      executor.close();
      throw new UncheckedIOException("HttpTestBackend " + name + ": cannot listen", e);
    }
    HttpTestBackend backend = new HttpTestBackend(name, server, executor);
    server.setExecutor(executor);
    server.createContext("/", backend::serve);
    server.start();
    return backend;
  }

  /** The name it answers with, in its body and its {@code X-Backend} header. */
  public String name() {
    return name;
  }

  /** The port it listens on, on 127.0.0.1. */
  public int port() {
    return server.getAddress().getPort();
  }

  /** Where to reach it directly: {@code http://127.0.0.1:PORT/}. */
  public URI uri() {
    return URI.create("http://127.0.0.1:" + port() + "/");
  }

  /** It as a {@link Backend} named {@link #name()}, for a cluster or a proxy builder. */
  public Backend backend() {
    return Backend.of("127.0.0.1", port()).withName(name);
  }

  /** How many requests it has answered (or begun to answer) since it started. */
  public long requests() {
    return requests.get();
  }

  /** Stops listening and ends exchanges in flight; idempotent. */
  @Override
  public void close() {
    server.stop(0);
    executor.shutdownNow();
  }

  @Override
  public String toString() {
    return "HttpTestBackend[" + name + " 127.0.0.1:" + port() + "]";
  }

  private void serve(HttpExchange exchange) throws IOException {
    requests.incrementAndGet();
    try (exchange) {
      byte[] requestBody = exchange.getRequestBody().readAllBytes();
      exchange.getResponseHeaders().set("X-Backend", name);
      Map<String, String> query;
      int status;
      long size;
      Duration delay;
      try {
        query = query(exchange.getRequestURI().getRawQuery());
        status = status(query.get("status"));
        size = size(query.get("size"));
        delay = delay(query.get("delay"));
      } catch (IllegalArgumentException e) {
        send(exchange, 400, (e.getMessage() + "\n").getBytes(StandardCharsets.UTF_8));
        return;
      }
      if (!delay.isZero()) {
        try {
          Thread.sleep(delay);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          return; // closing: the exchange is cut
        }
      }
      if (exchange.getRequestURI().getPath().equals("/echo")) {
        send(exchange, status, echo(exchange, requestBody));
      } else if (size >= 0) {
        sendSized(exchange, status, size);
      } else {
        send(exchange, status, (name + "\n").getBytes(StandardCharsets.UTF_8));
      }
    }
  }

  private static byte[] echo(HttpExchange exchange, byte[] body) {
    StringBuilder b = new StringBuilder();
    b.append(exchange.getRequestMethod())
        .append(' ')
        .append(exchange.getRequestURI())
        .append(' ')
        .append(exchange.getProtocol())
        .append('\n');
    for (Map.Entry<String, List<String>> h : exchange.getRequestHeaders().entrySet()) {
      for (String v : h.getValue()) {
        b.append(h.getKey()).append(": ").append(v).append('\n');
      }
    }
    b.append('\n');
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    byte[] head = b.toString().getBytes(StandardCharsets.UTF_8);
    out.write(head, 0, head.length);
    out.write(body, 0, body.length);
    return out.toByteArray();
  }

  private static void send(HttpExchange exchange, int status, byte[] body) throws IOException {
    boolean none = bodiless(exchange, status);
    exchange.sendResponseHeaders(status, none ? -1 : body.length);
    if (!none) {
      try (OutputStream out = exchange.getResponseBody()) {
        out.write(body);
      }
    }
  }

  private static void sendSized(HttpExchange exchange, int status, long size) throws IOException {
    boolean none = bodiless(exchange, status);
    exchange.sendResponseHeaders(status, none ? -1 : size == 0 ? -1 : size);
    if (none || size == 0) {
      return;
    }
    byte[] chunk = new byte[8192];
    for (int i = 0; i < chunk.length; i++) {
      chunk[i] = (byte) ('a' + i % 26);
    }
    try (OutputStream out = exchange.getResponseBody()) {
      for (long left = size; left > 0; left -= chunk.length) {
        out.write(chunk, 0, (int) Math.min(left, chunk.length));
      }
    }
  }

  /** HEAD, 1xx, 204 and 304 have no body; the JDK server wants -1 for them. */
  private static boolean bodiless(HttpExchange exchange, int status) {
    return exchange.getRequestMethod().equals("HEAD")
        || status < 200
        || status == 204
        || status == 304;
  }

  static Map<String, String> query(@Nullable String raw) {
    Map<String, String> q = new HashMap<>();
    if (raw == null || raw.isEmpty()) {
      return q;
    }
    for (String pair : raw.split("&")) {
      int eq = pair.indexOf('=');
      String k = eq < 0 ? pair : pair.substring(0, eq);
      String v = eq < 0 ? "" : pair.substring(eq + 1);
      q.put(
          URLDecoder.decode(k, StandardCharsets.UTF_8),
          URLDecoder.decode(v, StandardCharsets.UTF_8));
    }
    return q;
  }

  static int status(@Nullable String v) {
    if (v == null) {
      return 200;
    }
    try {
      int s = Integer.parseInt(v);
      if (s >= 200 && s <= 599) {
        return s;
      }
    } catch (NumberFormatException e) {
      // answered below
    }
    throw new IllegalArgumentException("status=" + v + ": expected 200 to 599");
  }

  static long size(@Nullable String v) {
    if (v == null) {
      return -1;
    }
    try {
      long s = Long.parseLong(v);
      if (s >= 0 && s <= MAX_SIZE) {
        return s;
      }
    } catch (NumberFormatException e) {
      // answered below
    }
    throw new IllegalArgumentException("size=" + v + ": expected 0 to " + MAX_SIZE + " bytes");
  }

  static Duration delay(@Nullable String v) {
    if (v == null) {
      return Duration.ZERO;
    }
    Duration d;
    try {
      if (v.endsWith("ms")) {
        d = Duration.ofMillis(Long.parseLong(v.substring(0, v.length() - 2)));
      } else if (v.endsWith("s")) {
        d = Duration.ofSeconds(Long.parseLong(v.substring(0, v.length() - 1)));
      } else {
        d = Duration.ofMillis(Long.parseLong(v));
      }
    } catch (NumberFormatException e) {
      d = Duration.ofMillis(-1);
    }
    if (d.isNegative() || d.compareTo(MAX_DELAY) > 0) {
      throw new IllegalArgumentException("delay=" + v + ": expected e.g. 250ms or 2s, at most 5m");
    }
    return d;
  }
}
