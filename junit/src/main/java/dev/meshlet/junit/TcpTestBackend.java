package dev.meshlet.junit;

import dev.meshlet.core.Backend;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A small named TCP echo backend on 127.0.0.1 and an ephemeral port, to put behind a proxy in a
 * test: it sends back every byte it reads, and half-closes (shuts its output down) when the client
 * half-closes, so a test can check that a proxy forwards a FIN in each direction. One virtual
 * thread per connection.
 *
 * <pre>{@code
 * try (TcpTestBackend echo = TcpTestBackend.start("echo");
 *     TcpProxy proxy = TcpProxy.builder().listen("127.0.0.1", 0).backends(echo.backend()).start()) {
 *   // bytes written to 127.0.0.1:{proxy.port()} come back
 * }
 * }</pre>
 */
public final class TcpTestBackend implements AutoCloseable {
  private final String name;
  private final ServerSocket server;
  private final ExecutorService executor = Executors.newVirtualThreadPerTaskExecutor();
  private final Set<Socket> open = ConcurrentHashMap.newKeySet();
  private final AtomicLong connections = new AtomicLong();

  private TcpTestBackend(String name, ServerSocket server) {
    this.name = name;
    this.server = server;
  }

  /**
   * Starts an echo backend named {@code name} on 127.0.0.1 and a free port.
   *
   * @throws UncheckedIOException if no port can be bound
   */
  public static TcpTestBackend start(String name) {
    Objects.requireNonNull(name, "name");
    ServerSocket server;
    try {
      server = new ServerSocket(0, 1024, InetAddress.getLoopbackAddress());
    } catch (IOException e) {
      throw new UncheckedIOException("TcpTestBackend " + name + ": cannot listen", e);
    }
    TcpTestBackend backend = new TcpTestBackend(name, server);
    backend.executor.execute(backend::accept);
    return backend;
  }

  /** Its name, as given to {@link #backend()}. */
  public String name() {
    return name;
  }

  /** The port it listens on, on 127.0.0.1. */
  public int port() {
    return server.getLocalPort();
  }

  /** It as a {@link Backend} named {@link #name()}, for a cluster or a proxy builder. */
  public Backend backend() {
    return Backend.of("127.0.0.1", port()).withName(name);
  }

  /** How many connections it has accepted since it started. */
  public long connections() {
    return connections.get();
  }

  /** Stops listening and closes every connection open now; idempotent. */
  @Override
  public void close() {
    try {
      server.close();
    } catch (IOException e) {
      // closing: nothing left to do with it
    }
    for (Socket s : open) {
      closeQuietly(s);
    }
    executor.shutdownNow();
  }

  @Override
  public String toString() {
    return "TcpTestBackend[" + name + " 127.0.0.1:" + port() + "]";
  }

  private void accept() {
    while (!server.isClosed()) {
      Socket s;
      try {
        s = server.accept();
      } catch (IOException e) {
        return; // closed
      }
      connections.incrementAndGet();
      open.add(s);
      try {
        executor.execute(() -> echo(s));
      } catch (RuntimeException e) { // closing
        open.remove(s);
        closeQuietly(s);
      }
    }
  }

  private void echo(Socket s) {
    try (s;
        InputStream in = s.getInputStream();
        OutputStream out = s.getOutputStream()) {
      byte[] buf = new byte[16 * 1024];
      for (int n; (n = in.read(buf)) >= 0; ) {
        out.write(buf, 0, n);
      }
      s.shutdownOutput(); // the client half-closed: answer with a FIN of our own
    } catch (IOException e) {
      // reset or closed by the test: nothing to report
    } finally {
      open.remove(s);
    }
  }

  private static void closeQuietly(Socket s) {
    try {
      s.close();
    } catch (IOException e) {
      // closing anyway
    }
  }
}
