package dev.meshlet.admin;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.BindException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.io.Content;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.HttpConfiguration;
import org.eclipse.jetty.server.HttpConnectionFactory;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.util.Callback;
import org.eclipse.jetty.util.component.LifeCycle;
import org.eclipse.jetty.util.thread.QueuedThreadPool;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * All Jetty wiring of the admin endpoint: its server, connector and the handler that reads a
 * request and writes the {@link Reply} that {@link Routes} computes.
 */
final class AdminServer {
  private static final Logger LOG = LoggerFactory.getLogger(Admin.class);

  /** Request bodies above this are refused with 413: the API's bodies are a few hundred bytes. */
  static final int MAX_BODY = 1 << 20;

  private final Server server;
  private final ServerConnector connector;
  private final String host;
  private final AdminState state;
  private final AtomicBoolean closed = new AtomicBoolean();

  private AdminServer(Server server, ServerConnector connector, String host, AdminState state) {
    this.server = server;
    this.connector = connector;
    this.host = host;
    this.state = state;
  }

  static AdminServer start(String host, int port, List<Registered> proxies, Dynamic dynamic)
      throws IOException {
    QueuedThreadPool threads = new QueuedThreadPool(8, 2);
    threads.setName("meshlet-admin-" + port);
    Server server = new Server(threads);
    HttpConfiguration http = new HttpConfiguration();
    http.setSendServerVersion(false);
    http.setSendXPoweredBy(false);
    ServerConnector connector = new ServerConnector(server, 1, 1, new HttpConnectionFactory(http));
    connector.setHost(host);
    connector.setPort(port);
    server.addConnector(connector);
    AdminState state = new AdminState(proxies, dynamic);
    Routes routes = new Routes(state);
    server.setHandler(new AdminHandler(routes));
    try {
      server.start();
    } catch (Exception e) {
      LifeCycle.stop(server);
      state.close();
      for (Throwable t = e; t != null; t = t.getCause()) {
        if (t instanceof BindException) {
          BindException b =
              new BindException("admin listen " + host + ":" + port + ": address already in use");
          b.initCause(e);
          throw b;
        }
      }
      throw new IOException(
          "admin listen "
              + host
              + ":"
              + port
              + ": "
              + (e.getMessage() == null ? e : e.getMessage()),
          e);
    }
    AdminServer s = new AdminServer(server, connector, host, state);
    LOG.debug("meshlet admin listening on {}", s.uri());
    return s;
  }

  int port() {
    return connector.getLocalPort();
  }

  URI uri() {
    String h = host.indexOf(':') >= 0 ? "[" + host + "]" : host;
    return URI.create("http://" + h + ":" + port() + "/");
  }

  AdminState state() {
    return state;
  }

  void drain() {
    state.drain();
  }

  void close() {
    if (closed.compareAndSet(false, true)) {
      LifeCycle.stop(server);
      state.close();
    }
  }

  /** Reads the request, asks {@link Routes} for the reply, writes it. */
  private static final class AdminHandler extends Handler.Abstract {
    private final Routes routes;

    AdminHandler(Routes routes) {
      this.routes = routes;
    }

    @Override
    public boolean handle(Request request, Response response, Callback callback) {
      Reply reply;
      try {
        String method = request.getMethod();
        String ua = request.getHeaders().get(HttpHeader.USER_AGENT);
        if (!method.equals("GET") && ua != null && ua.startsWith("Mozilla/")) {
          // as toxiproxy-server: a web page must not drain proxies or add faults (CSRF)
          reply = Reply.error(403, "User agent not allowed");
        } else {
          byte[] body = readBody(request);
          reply =
              body == null
                  ? Reply.error(413, "request body over " + MAX_BODY + " bytes")
                  : routes.answer(
                      method,
                      Request.getPathInContext(request),
                      new String(body, StandardCharsets.UTF_8));
        }
      } catch (IOException e) {
        reply = Reply.error(400, "cannot read the request body: " + e.getMessage());
      } catch (RuntimeException e) {
        LOG.warn("admin {} {} failed", request.getMethod(), request.getHttpURI().getPath(), e);
        reply = Reply.error(500, "internal error: " + e);
      }
      response.setStatus(reply.status());
      if (reply.allow() != null) {
        response.getHeaders().put(HttpHeader.ALLOW, reply.allow());
      }
      if (reply.body().isEmpty() && reply.status() == 204) {
        callback.succeeded();
        return true;
      }
      response.getHeaders().put(HttpHeader.CONTENT_TYPE, reply.contentType());
      Content.Sink.write(response, true, reply.body(), callback);
      return true;
    }

    /** The body, or null when it is over {@link #MAX_BODY}. */
    private static byte @Nullable [] readBody(Request request) throws IOException {
      ByteArrayOutputStream out = new ByteArrayOutputStream();
      byte[] buf = new byte[8192];
      try (InputStream in = Content.Source.asInputStream(request)) {
        int n;
        while ((n = in.read(buf)) >= 0) {
          out.write(buf, 0, n);
          if (out.size() > MAX_BODY) {
            return null;
          }
        }
      }
      return out.toByteArray();
    }
  }
}
