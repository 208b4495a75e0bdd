package dev.meshlet.l7;

import dev.meshlet.core.Backend;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import javax.net.ssl.SSLContext;
import org.eclipse.jetty.http.HttpFields;
import org.eclipse.jetty.io.Connection;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.HttpConfiguration;
import org.eclipse.jetty.server.HttpConnectionFactory;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.server.SecureRequestCustomizer;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.server.SslConnectionFactory;
import org.eclipse.jetty.util.Callback;
import org.eclipse.jetty.util.ssl.SslContextFactory;
import org.eclipse.jetty.util.thread.QueuedThreadPool;

/** A real Jetty server on 127.0.0.1:0 that records what reached it. */
final class TestBackend implements AutoCloseable {
  /** What one request looked like on arrival at the backend. */
  record Seen(String method, String target, HttpFields headers, String version) {
    String header(String name) {
      return headers.get(name);
    }
  }

  private final Server server;
  private final ServerConnector connector;
  final String name;
  final List<Seen> requests = new CopyOnWriteArrayList<>();
  final AtomicInteger connections = new AtomicInteger();

  /** The connections open now. */
  final AtomicInteger open = new AtomicInteger();

  private TestBackend(String name, Request.Handler handler) throws Exception {
    this(name, handler, null);
  }

  private TestBackend(String name, Request.Handler handler, SSLContext tls) throws Exception {
    this.name = name;
    QueuedThreadPool threads = new QueuedThreadPool(32, 2);
    threads.setName("backend-" + name);
    server = new Server(threads);
    HttpConfiguration http = new HttpConfiguration();
    http.setSendServerVersion(false);
    if (tls == null) {
      connector = new ServerConnector(server, 1, 1, new HttpConnectionFactory(http));
    } else {
      http.addCustomizer(new SecureRequestCustomizer(false));
      SslContextFactory.Server ssl = new SslContextFactory.Server();
      ssl.setSslContext(tls);
      connector =
          new ServerConnector(
              server,
              1,
              1,
              new SslConnectionFactory(ssl, "http/1.1"),
              new HttpConnectionFactory(http));
    }
    connector.setHost("127.0.0.1");
    connector.setPort(0);
    connector.addBean(
        new Connection.Listener() {
          @Override
          public void onOpened(Connection connection) {
            connections.incrementAndGet();
            open.incrementAndGet();
          }

          @Override
          public void onClosed(Connection connection) {
            open.decrementAndGet();
          }
        });
    server.addConnector(connector);
    server.setHandler(
        new Handler.Abstract() {
          @Override
          public boolean handle(Request request, Response response, Callback callback)
              throws Exception {
            requests.add(
                new Seen(
                    request.getMethod(),
                    request.getHttpURI().getPathQuery(),
                    HttpFields.build(request.getHeaders()).asImmutable(),
                    request.getConnectionMetaData().getProtocol()));
            return handler.handle(request, response, callback);
          }
        });
    server.start();
  }

  /** A backend that answers every request with {@code name} as its body and X-Backend header. */
  static TestBackend named(String name) throws Exception {
    return new TestBackend(
        name,
        (request, response, callback) -> {
          response.getHeaders().put("X-Backend", name);
          response.getHeaders().put("Content-Type", "text/plain");
          response.write(true, ByteBuffer.wrap(name.getBytes(StandardCharsets.UTF_8)), callback);
          return true;
        });
  }

  /** A {@link #named} backend speaking TLS with {@code tls}'s certificate. */
  static TestBackend namedTls(String name, SSLContext tls) throws Exception {
    return new TestBackend(
        name,
        (request, response, callback) -> {
          response.getHeaders().put("X-Backend", name);
          response.write(true, ByteBuffer.wrap(name.getBytes(StandardCharsets.UTF_8)), callback);
          return true;
        },
        tls);
  }

  static TestBackend with(String name, Request.Handler handler) throws Exception {
    return new TestBackend(name, handler);
  }

  int port() {
    return connector.getLocalPort();
  }

  Backend backend() {
    return Backend.of("127.0.0.1", port()).withName(name);
  }

  Seen last() {
    return requests.get(requests.size() - 1);
  }

  @Override
  public void close() throws Exception {
    server.stop();
  }
}
