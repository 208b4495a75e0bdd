package dev.meshlet.xds;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

/**
 * A small HTTP backend on 127.0.0.1: answers every request with its own name, the path it got and
 * the x-added request header; {@code /slow} answers only once {@link #release()} is called.
 */
final class HttpBackend implements AutoCloseable {
  final String name;
  final CountDownLatch slowArrived = new CountDownLatch(1);
  private final CountDownLatch release = new CountDownLatch(1);
  private final HttpServer server;

  HttpBackend(String name) throws IOException {
    this.name = name;
    server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 50);
    server.setExecutor(Executors.newVirtualThreadPerTaskExecutor());
    server.createContext("/", this::handle);
    server.start();
  }

  int port() {
    return server.getAddress().getPort();
  }

  void release() {
    release.countDown();
  }

  private void handle(HttpExchange ex) throws IOException {
    try (ex) {
      ex.getRequestBody().readAllBytes();
      if (ex.getRequestURI().getPath().endsWith("/slow")) {
        slowArrived.countDown();
        try {
          if (!release.await(20, TimeUnit.SECONDS)) {
            ex.sendResponseHeaders(500, -1);
            return;
          }
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          return;
        }
      }
      String added = ex.getRequestHeaders().getFirst("x-added");
      byte[] body =
          (name + " " + ex.getRequestURI().getPath() + (added == null ? "" : " " + added))
              .getBytes(StandardCharsets.UTF_8);
      ex.getResponseHeaders().add("x-backend", name);
      ex.sendResponseHeaders(200, body.length);
      try (OutputStream out = ex.getResponseBody()) {
        out.write(body);
      }
    }
  }

  @Override
  public void close() {
    release();
    server.stop(0);
  }
}
