package dev.meshlet.l7;

import dev.meshlet.core.Backend;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import javax.net.ssl.SSLContext;
import org.eclipse.jetty.alpn.server.ALPNServerConnectionFactory;
import org.eclipse.jetty.http.HttpFields;
import org.eclipse.jetty.http2.server.HTTP2CServerConnectionFactory;
import org.eclipse.jetty.http2.server.HTTP2ServerConnectionFactory;
import org.eclipse.jetty.io.Connection;
import org.eclipse.jetty.io.EndPoint;
import org.eclipse.jetty.io.SocketChannelEndPoint;
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

/**
 * A real Jetty HTTP/2 server on 127.0.0.1:0 (h2c and HTTP/1.1 on one port, or h2 and http/1.1 by
 * ALPN over TLS) that records what reached it.
 */
final class H2Backend implements AutoCloseable {
  /** What one request looked like on arrival: its protocol, authority and headers. */
  record Seen(String method, String protocol, String authority, HttpFields headers) {}

  private final Server server;
  private final ServerConnector connector;
  final String name;
  final List<Seen> requests = new CopyOnWriteArrayList<>();
  final AtomicInteger connections = new AtomicInteger();
  private final Set<EndPoint> sockets = ConcurrentHashMap.newKeySet();

  private H2Backend(String name, Request.Handler handler, SSLContext tls, int maxStreams)
      throws Exception {
    this.name = name;
    QueuedThreadPool threads = new QueuedThreadPool(32, 2);
    threads.setName("backend-" + name);
    server = new Server(threads);
    HttpConfiguration http = new HttpConfiguration();
    http.setSendServerVersion(false);
    if (tls == null) {
      HTTP2CServerConnectionFactory h2c = new HTTP2CServerConnectionFactory(http);
      h2c.setMaxConcurrentStreams(maxStreams);
      connector = new ServerConnector(server, 1, 1, new HttpConnectionFactory(http), h2c);
    } else {
      http.addCustomizer(new SecureRequestCustomizer(false));
      SslContextFactory.Server ssl = new SslContextFactory.Server();
      ssl.setSslContext(tls);
      ALPNServerConnectionFactory alpn = new ALPNServerConnectionFactory("h2", "http/1.1");
      alpn.setDefaultProtocol("http/1.1");
      HTTP2ServerConnectionFactory h2 = new HTTP2ServerConnectionFactory(http);
      h2.setMaxConcurrentStreams(maxStreams);
      connector =
          new ServerConnector(
              server,
              1,
              1,
              new SslConnectionFactory(ssl, alpn.getProtocol()),
              alpn,
              h2,
              new HttpConnectionFactory(http));
    }
    connector.setHost("127.0.0.1");
    connector.setPort(0);
    connector.addBean(
        new Connection.Listener() {
          @Override
          public void onOpened(Connection connection) {
            // one TCP connection opens several Jetty connections (TLS, ALPN, HTTP/1.1 then h2):
            // count the sockets
            if (connection.getEndPoint() instanceof SocketChannelEndPoint e && sockets.add(e)) {
              connections.incrementAndGet();
            }
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
                    request.getConnectionMetaData().getProtocol(),
                    request.getHttpURI().getAuthority(),
                    HttpFields.build(request.getHeaders()).asImmutable()));
            return handler.handle(request, response, callback);
          }
        });
    server.start();
  }

  /** An h2c (and HTTP/1.1) backend answering with {@code handler}. */
  static H2Backend h2c(String name, Request.Handler handler) throws Exception {
    return new H2Backend(name, handler, null, 128);
  }

  /** An h2c backend that allows {@code maxStreams} concurrent streams per connection. */
  static H2Backend h2c(String name, int maxStreams, Request.Handler handler) throws Exception {
    return new H2Backend(name, handler, null, maxStreams);
  }

  /** An h2 (and http/1.1) backend over TLS with {@code tls}'s certificate. */
  static H2Backend h2(String name, SSLContext tls, Request.Handler handler) throws Exception {
    return new H2Backend(name, handler, tls, 128);
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
