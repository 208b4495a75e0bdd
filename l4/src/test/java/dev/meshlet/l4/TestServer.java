package dev.meshlet.l4;

import java.io.IOException;
import java.io.InputStream;
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

/** A real TCP backend on 127.0.0.1 and an ephemeral port, one virtual thread per connection. */
final class TestServer implements AutoCloseable {

  /** What the server does with each accepted connection. */
  @FunctionalInterface
  interface Handler {
    void handle(Socket socket) throws IOException;
  }

  private final ServerSocket server;
  private final ExecutorService executor = Executors.newVirtualThreadPerTaskExecutor();
  private final Set<Socket> open = ConcurrentHashMap.newKeySet();
  private final AtomicInteger accepted = new AtomicInteger();
  private final Handler handler;

  private TestServer(Handler handler) {
    this.handler = handler;
    try {
      server = new ServerSocket(0, 2048, InetAddress.getLoopbackAddress());
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    executor.execute(this::acceptLoop);
  }

  static TestServer start(Handler handler) {
    return new TestServer(handler);
  }

  /** Echoes every byte back; half-closes when the client does. */
  static TestServer echo() {
    return start(s -> {
      InputStream in = s.getInputStream();
      OutputStream out = s.getOutputStream();
      in.transferTo(out);
      s.shutdownOutput();
    });
  }

  /** Writes its name and a newline, then echoes. */
  static TestServer named(String name) {
    return start(s -> {
      OutputStream out = s.getOutputStream();
      out.write((name + "\n").getBytes(StandardCharsets.US_ASCII));
      out.flush();
      s.getInputStream().transferTo(out);
      s.shutdownOutput();
    });
  }

  int port() {
    return server.getLocalPort();
  }

  InetSocketAddress address() {
    return new InetSocketAddress(InetAddress.getLoopbackAddress(), port());
  }

  int accepted() {
    return accepted.get();
  }

  int openConnections() {
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
      executor.execute(() -> {
        try (s) {
          handler.handle(s);
        } catch (IOException ignored) {
          // a test that expects resets asserts on them itself
        } finally {
          open.remove(s);
        }
      });
    }
  }

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
