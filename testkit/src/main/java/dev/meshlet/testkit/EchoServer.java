package dev.meshlet.testkit;

import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A real TCP backend on 127.0.0.1 and an ephemeral port, one virtual thread per connection. By
 * default it echoes every byte and half-closes when the client half-closes; {@link #handling} gives
 * it any other behaviour.
 *
 * <pre>{@code
 * try (EchoServer backend = EchoServer.start()) {
 *   Backend b = Backend.of("127.0.0.1", backend.port());
 * }
 * }</pre>
 */
public final class EchoServer implements AutoCloseable {

  /** What the server does with each accepted connection; the server closes the socket after it. */
  @FunctionalInterface
  public interface Handler {
    /**
     * Serves one connection.
     *
     * @param socket the accepted connection
     * @throws IOException ignored: a test that expects resets asserts on them itself
     */
    void handle(Socket socket) throws IOException;
  }

  private final ServerSocket server;
  private final ExecutorService executor = Executors.newVirtualThreadPerTaskExecutor();
  private final Set<Socket> open = ConcurrentHashMap.newKeySet();
  private final AtomicInteger accepted = new AtomicInteger();
  private final Handler handler;

  private EchoServer(Handler handler) {
    this.handler = handler;
    try {
      // a deep backlog: burst tests connect thousands of times before the accept loop catches up
      server = new ServerSocket(0, 2048, InetAddress.getLoopbackAddress());
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    executor.execute(this::acceptLoop);
  }

  /**
   * Starts a server that echoes every byte back and half-closes when the client does.
   *
   * @return the running server
   */
  public static EchoServer start() {
    return handling(
        s -> {
          s.getInputStream().transferTo(s.getOutputStream());
          s.shutdownOutput();
        });
  }

  /**
   * Starts a server that writes {@code name} and a newline on each connection, then echoes.
   *
   * @param name tells the backends behind one proxy apart
   * @return the running server
   */
  public static EchoServer named(String name) {
    byte[] greeting = (name + "\n").getBytes(StandardCharsets.US_ASCII);
    return handling(
        s -> {
          OutputStream out = s.getOutputStream();
          out.write(greeting);
          out.flush();
          s.getInputStream().transferTo(out);
          s.shutdownOutput();
        });
  }

  /**
   * Starts a server that serves each connection with {@code handler}.
   *
   * @param handler runs on its own virtual thread per connection
   * @return the running server
   */
  public static EchoServer handling(Handler handler) {
    return new EchoServer(handler);
  }

  /**
   * The port it listens on.
   *
   * @return the ephemeral port
   */
  public int port() {
    return server.getLocalPort();
  }

  /**
   * The address it listens on.
   *
   * @return 127.0.0.1 and {@link #port()}
   */
  public InetSocketAddress address() {
    return new InetSocketAddress(InetAddress.getLoopbackAddress(), port());
  }

  /**
   * How many connections it accepted since it started.
   *
   * @return the count
   */
  public int accepted() {
    return accepted.get();
  }

  /**
   * How many accepted connections are still open.
   *
   * @return the count
   */
  public int openConnections() {
    return open.size();
  }

  private void acceptLoop() {
    while (!server.isClosed()) {
      Socket s;
      try {
        s = server.accept();
      } catch (IOException e) {
        return;
      }
      accepted.incrementAndGet();
      open.add(s);
      executor.execute(() -> serve(s));
    }
  }

  private void serve(Socket s) {
    try (s) {
      handler.handle(s);
    } catch (IOException ignored) {
      // a test that expects resets asserts on them itself
    } finally {
      open.remove(s);
    }
  }

  /** Stops accepting, closes every open connection and waits up to 10 s for its threads. */
  @Override
  public void close() {
    try {
      server.close();
    } catch (IOException ignored) {
      // closing
    }
    for (Socket s : open) {
      try {
        s.close();
      } catch (IOException ignored) {
        // closing
      }
    }
    executor.shutdownNow();
    try {
      executor.awaitTermination(10, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
