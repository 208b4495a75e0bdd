package dev.meshlet.junit;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/** A backend for the tests: echoes every byte, one virtual thread per connection. */
final class EchoServer implements AutoCloseable {
  private final ServerSocket server;
  private final ExecutorService executor = Executors.newVirtualThreadPerTaskExecutor();

  private EchoServer() {
    try {
      server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    executor.execute(
        () -> {
          while (!server.isClosed()) {
            try {
              Socket s = server.accept();
              executor.execute(
                  () -> {
                    try (s) {
                      s.getInputStream().transferTo(s.getOutputStream());
                    } catch (IOException ignored) {
                      // the tests cut connections on purpose
                    }
                  });
            } catch (IOException e) {
              return;
            }
          }
        });
  }

  static EchoServer start() {
    return new EchoServer();
  }

  int port() {
    return server.getLocalPort();
  }

  @Override
  public void close() {
    try {
      server.close();
    } catch (IOException ignored) {
      // closing
    }
    executor.shutdownNow();
  }
}
