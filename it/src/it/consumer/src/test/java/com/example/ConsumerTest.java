package com.example;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.sun.net.httpserver.HttpServer;
import dev.meshlet.core.Backend;
import dev.meshlet.core.Balancer;
import dev.meshlet.core.Cluster;
import dev.meshlet.l4.TcpProxy;
import dev.meshlet.l7.HttpProxy;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** What a user writes first: an HTTP proxy and a TCP proxy in front of local backends. */
@Timeout(30)
class ConsumerTest {

  @Test
  void httpProxyForwardsToBackend() throws Exception {
    HttpServer backend = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
    backend.createContext(
        "/",
        exchange -> {
          byte[] body = ("hello " + exchange.getRequestURI().getPath()).getBytes(StandardCharsets.UTF_8);
          exchange.sendResponseHeaders(200, body.length);
          try (OutputStream out = exchange.getResponseBody()) {
            out.write(body);
          }
        });
    backend.start();
    try (HttpProxy proxy =
            HttpProxy.builder()
                .listen("127.0.0.1", 0)
                .defaultRoute(Cluster.of("web", Backend.of("127.0.0.1", backend.getAddress().getPort())))
                .start();
        HttpClient client = HttpClient.newHttpClient()) {
      HttpResponse<String> response =
          client.send(
              HttpRequest.newBuilder(proxy.uri().resolve("/users")).build(),
              HttpResponse.BodyHandlers.ofString());
      assertEquals(200, response.statusCode());
      assertEquals("hello /users", response.body());
    } finally {
      backend.stop(0);
    }
  }

  @Test
  void tcpProxyEchoes() throws Exception {
    try (ServerSocket echo = new ServerSocket(0, 50, InetAddress.getLoopbackAddress())) {
      Thread.ofVirtual()
          .start(
              () -> {
                try (Socket s = echo.accept()) {
                  s.getInputStream().transferTo(s.getOutputStream());
                } catch (Exception ignored) {
                  // the test's assertion reports a broken echo
                }
              });
      try (TcpProxy proxy =
              TcpProxy.builder()
                  .listen("127.0.0.1", 0)
                  .backends(Backend.of("127.0.0.1", echo.getLocalPort()))
                  .balancer(Balancer.roundRobin())
                  .start();
          Socket client = new Socket("127.0.0.1", proxy.port())) {
        client.getOutputStream().write("ping".getBytes(StandardCharsets.US_ASCII));
        client.shutdownOutput();
        InputStream in = client.getInputStream();
        assertEquals("ping", new String(in.readAllBytes(), StandardCharsets.US_ASCII));
      }
    }
  }
}
