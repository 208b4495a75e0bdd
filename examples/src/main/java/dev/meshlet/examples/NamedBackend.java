package dev.meshlet.examples;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.util.Callback;
import org.eclipse.jetty.util.thread.QueuedThreadPool;

/**
 * A small Jetty HTTP server that answers every request with its own name, the method and the path
 * ({@code api-1: GET /api/users}), and the header {@code X-Served-By}: a backend whose answers show
 * which one served them. Behind a sidecar that forwards the client's certificate, the answer also
 * quotes the {@code x-forwarded-client-cert} it got.
 *
 * <pre>{@code
 * try (NamedBackend api1 = NamedBackend.start("api-1")) {
 *     Backend b = Backend.of("127.0.0.1", api1.port());
 * }
 * }</pre>
 */
public final class NamedBackend implements AutoCloseable {
  private final String name;
  private final Server server;
  private final ServerConnector connector;

  private NamedBackend(String name, String host, int port) throws Exception {
    this.name = name;
    QueuedThreadPool threads = new QueuedThreadPool(16, 2);
    threads.setName("backend-" + name);
    this.server = new Server(threads);
    this.connector = new ServerConnector(server, 1, 1);
    connector.setHost(host);
    connector.setPort(port);
    server.addConnector(connector);
    server.setHandler(
        new Handler.Abstract.NonBlocking() {
          @Override
          public boolean handle(Request request, Response response, Callback callback) {
            String body =
                name
                    + ": "
                    + request.getMethod()
                    + " "
                    + request.getHttpURI().getPathQuery()
                    + "\n";
            String xfcc = request.getHeaders().get("x-forwarded-client-cert");
            if (xfcc != null) { // behind a sidecar that vouches for its client: say who it was
              body += "  x-forwarded-client-cert: " + xfcc + "\n";
            }
            response.setStatus(200);
            response.getHeaders().put(HttpHeader.CONTENT_TYPE, "text/plain; charset=utf-8");
            response.getHeaders().put("X-Served-By", name);
            response.write(true, ByteBuffer.wrap(body.getBytes(StandardCharsets.UTF_8)), callback);
            return true;
          }
        });
    server.start();
  }

  /** Starts a backend named {@code name} on 127.0.0.1 and a free port. */
  public static NamedBackend start(String name) throws Exception {
    return new NamedBackend(name, "127.0.0.1", 0);
  }

  /** The backend's name, which every answer carries. */
  public String name() {
    return name;
  }

  /** The port it listens on. */
  public int port() {
    return connector.getLocalPort();
  }

  /** Stops the server. */
  @Override
  public void close() throws Exception {
    server.stop();
  }
}
