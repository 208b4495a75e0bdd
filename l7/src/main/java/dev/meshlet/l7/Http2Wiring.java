package dev.meshlet.l7;

import java.io.IOException;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;
import org.eclipse.jetty.client.ConnectionPool;
import org.eclipse.jetty.client.Destination;
import org.eclipse.jetty.client.HttpClient;
import org.eclipse.jetty.client.HttpClientTransport;
import org.eclipse.jetty.client.MultiplexConnectionPool;
import org.eclipse.jetty.client.transport.HttpClientConnectionFactory;
import org.eclipse.jetty.client.transport.HttpClientTransportDynamic;
import org.eclipse.jetty.http2.ErrorCode;
import org.eclipse.jetty.http2.HTTP2Connection;
import org.eclipse.jetty.http2.HTTP2Session;
import org.eclipse.jetty.http2.api.Session;
import org.eclipse.jetty.http2.client.HTTP2Client;
import org.eclipse.jetty.http2.client.transport.ClientConnectionFactoryOverHTTP2;
import org.eclipse.jetty.http2.client.transport.HttpClientTransportOverHTTP2;
import org.eclipse.jetty.http2.frames.Frame;
import org.eclipse.jetty.http2.frames.GoAwayFrame;
import org.eclipse.jetty.http2.frames.ResetFrame;
import org.eclipse.jetty.http2.server.AbstractHTTP2ServerConnectionFactory;
import org.eclipse.jetty.http2.server.HTTP2CServerConnectionFactory;
import org.eclipse.jetty.http2.server.HTTP2ServerConnectionFactory;
import org.eclipse.jetty.io.ClientConnector;
import org.eclipse.jetty.io.Connection;
import org.eclipse.jetty.io.EndPoint;
import org.eclipse.jetty.io.WindowRateControl;
import org.eclipse.jetty.server.Connector;
import org.eclipse.jetty.server.HttpConfiguration;
import org.eclipse.jetty.util.ConcurrentPool;
import org.eclipse.jetty.util.thread.Invocable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The proxy's HTTP/2 on Jetty: the listener's connection factories (h2c, h2 for ALPN) with the
 * limits of {@link Http2Limits} and the count of connections closed for breaking them, and the
 * transports of the proxy clients that speak HTTP/2 to backends. Made only when HTTP/2 is asked
 * for: an HTTP/1.1-only proxy has none of it on its path.
 */
final class Http2Wiring {
  private static final Logger LOG = LoggerFactory.getLogger(HttpProxy.class);

  private Http2Wiring() {}

  /** The listener's h2c factory: prior knowledge and {@code Upgrade: h2c}. */
  static AbstractHTTP2ServerConnectionFactory h2c(
      HttpConfiguration http, ProxyConfig config, Counters total) {
    HttpConfiguration h2 = headerLimited(http, config);
    return configure(
        new GuardedH2c(h2, new Guard(total, config.http2().maxConcurrentStreams())), config);
  }

  /** The listener's h2 factory, chosen by ALPN on a TLS listener. */
  static AbstractHTTP2ServerConnectionFactory h2(
      HttpConfiguration http, ProxyConfig config, Counters total) {
    HttpConfiguration h2 = headerLimited(http, config);
    return configure(
        new GuardedH2(h2, new Guard(total, config.http2().maxConcurrentStreams())), config);
  }

  /** HTTP/2 decodes header blocks against the request header size of its configuration. */
  private static HttpConfiguration headerLimited(HttpConfiguration http, ProxyConfig config) {
    HttpConfiguration h2 = new HttpConfiguration(http);
    h2.setRequestHeaderSize(config.maxHeaderListSize());
    return h2;
  }

  private static AbstractHTTP2ServerConnectionFactory configure(
      AbstractHTTP2ServerConnectionFactory f, ProxyConfig config) {
    Http2Limits limits = config.http2();
    f.setMaxConcurrentStreams(limits.maxConcurrentStreams());
    f.setInitialStreamRecvWindow(limits.initialStreamWindow());
    f.setInitialSessionRecvWindow(limits.initialSessionWindow());
    // io's WindowRateControl (http2's own is deprecated) counts resets, SETTINGS, PING, empty DATA
    // and CONTINUATION frames, and priority changes: over the rate, the session is closed with
    // ENHANCE_YOUR_CALM (rapid reset, CVE-2023-44487, and the other floods)
    f.setRateControlFactory(new WindowRateControl.Factory(limits.maxControlFramesPerSecond()));
    return f;
  }

  /**
   * The transport of a proxy client that speaks HTTP/2 to backends: h2c by prior knowledge on a
   * plain connector, and on a TLS one h2 offered by ALPN with HTTP/1.1 as the fallback. Its pool
   * opens at most {@link Http2Limits#maxStreamsPerUpstreamConnection()} streams per connection.
   */
  static HttpClientTransport upstreamTransport(
      ClientConnector connector, ProxyConfig config, boolean tls) {
    HTTP2Client http2 = new HTTP2Client(connector);
    Http2Limits limits = config.http2();
    http2.setInitialStreamRecvWindow(limits.initialStreamWindow());
    http2.setInitialSessionRecvWindow(limits.initialSessionWindow());
    http2.setMaxResponseHeadersSize(config.maxHeaderListSize() + 4096);
    http2.setMaxRequestHeadersSize(config.maxRequestHeaderSize() + 4096);
    http2.setConnectTimeout(config.connectTimeout().toMillis());
    http2.setIdleTimeout(config.upstreamIdleTimeout().toMillis());
    int cap = limits.maxStreamsPerUpstreamConnection();
    // the response listeners (Attempt) never block: run them on the thread that read the frame,
    // as over HTTP/1.1, instead of handing each response to the pool
    if (!tls) {
      HttpClientTransportOverHTTP2 t = new HttpClientTransportOverHTTP2(http2);
      t.setConnectionPoolFactory(d -> cappedPool(d, cap));
      t.setInvocationType(Invocable.InvocationType.NON_BLOCKING);
      return t;
    }
    HttpClientTransportDynamic t = new AlpnFallback(connector, http2);
    t.setConnectionPoolFactory(d -> cappedPool(d, cap));
    t.setInvocationType(Invocable.InvocationType.NON_BLOCKING);
    return t;
  }

  /**
   * Offers h2 then http/1.1 by ALPN. Jetty's transport speaks its first protocol (h2) to a server
   * that answers without ALPN, as an HTTP/1.1-only server does, which fails every request: here
   * such a server is spoken to in HTTP/1.1.
   */
  private static final class AlpnFallback extends HttpClientTransportDynamic {
    AlpnFallback(ClientConnector connector, HTTP2Client http2) {
      super(
          connector,
          new ClientConnectionFactoryOverHTTP2.HTTP2(http2),
          HttpClientConnectionFactory.HTTP11);
    }

    @Override
    public Connection newConnection(EndPoint endPoint, Map<String, Object> context)
        throws IOException {
      Object alpn = context.get(ClientConnector.APPLICATION_PROTOCOL_CONTEXT_KEY);
      if (alpn == null || alpn.toString().isEmpty()) {
        context.put(ClientConnector.APPLICATION_PROTOCOL_CONTEXT_KEY, "http/1.1");
      }
      return super.newConnection(endPoint, context);
    }
  }

  /**
   * Starts {@code client}, whose h2c transport shares a connector that runs already: Jetty's
   * transport would configure that connector as it starts, which a running one refuses, unless its
   * HTTP/2 client has started (with the settings {@link #upstreamTransport} gave it).
   */
  static void startShared(HttpClient client) throws Exception {
    if (client.getTransport() instanceof HttpClientTransportOverHTTP2 t) {
      t.getHTTP2Client().start();
    }
    client.start();
  }

  /**
   * Jetty's multiplexing pool, whose connections take as many streams as the backend's SETTINGS
   * allow: here no more than {@code cap}. An HTTP/1.1 connection (ALPN fell back) takes one.
   */
  private static MultiplexConnectionPool cappedPool(Destination destination, int cap) {
    int maxConnections = destination.getHttpClient().getMaxConnectionsPerDestination();
    return new MultiplexConnectionPool(
        destination,
        () ->
            new ConcurrentPool<>(
                ConcurrentPool.StrategyType.FIRST,
                maxConnections,
                c ->
                    c instanceof ConnectionPool.MaxMultiplexable m
                        ? Math.min(cap, m.getMaxMultiplex())
                        : 1),
        cap) {};
  }

  /**
   * Counts the client connections the proxy closed for breaking HTTP/2 (the {@code GOAWAY} with an
   * error it sends), one per connection, and logs the first of each kind.
   */
  private static final class Guard implements HTTP2Session.FrameListener {
    private final Counters total;
    private final AtomicBoolean floodLogged = new AtomicBoolean();
    private final AtomicBoolean protocolLogged = new AtomicBoolean();
    private final AtomicBoolean refusedLogged = new AtomicBoolean();

    private final int maxStreams;

    Guard(Counters total, int maxStreams) {
      this.total = total;
      this.maxStreams = maxStreams;
    }

    void watch(Connection connection) {
      if (connection instanceof HTTP2Connection c) {
        c.getSession().addEventListener(this);
      }
    }

    @Override
    public void onOutgoingFrame(Session session, Frame frame) {
      if (frame instanceof ResetFrame reset
          && reset.getError() == ErrorCode.REFUSED_STREAM_ERROR.code) {
        refused(session);
        return;
      }
      if (!(frame instanceof GoAwayFrame goAway) || goAway.getError() == ErrorCode.NO_ERROR.code) {
        return;
      }
      boolean flood = goAway.getError() == ErrorCode.ENHANCE_YOUR_CALM_ERROR.code;
      total.error(flood ? HttpProxyStats.ErrorKind.H2_FLOOD : HttpProxyStats.ErrorKind.H2_PROTOCOL);
      AtomicBoolean logged = flood ? floodLogged : protocolLogged;
      String what =
          ErrorCode.toString(goAway.getError(), "error " + goAway.getError())
              + (goAway.tryConvertPayload() == null ? "" : " (" + goAway.tryConvertPayload() + ")");
      if (logged.compareAndSet(false, true)) {
        LOG.warn(
            "closed an HTTP/2 client connection from {} with GOAWAY {}{}; later ones are counted in"
                + " the stats as {}",
            session.getRemoteSocketAddress(),
            what,
            flood ? ": over the control frame rate" : "",
            flood ? "H2_FLOOD" : "H2_PROTOCOL");
      } else {
        LOG.debug("closed an HTTP/2 client connection with GOAWAY {}", what);
      }
    }

    /** A client opened a stream past the concurrent stream limit: Jetty refused it. */
    private void refused(Session session) {
      total.error(HttpProxyStats.ErrorKind.H2_STREAM_REFUSED);
      if (refusedLogged.compareAndSet(false, true)) {
        LOG.warn(
            "refused a stream of HTTP/2 client {} past its {} concurrent streams (RST_STREAM"
                + " REFUSED_STREAM); later ones are counted in the stats as H2_STREAM_REFUSED",
            session.getRemoteSocketAddress(),
            maxStreams);
      }
    }
  }

  private static final class GuardedH2c extends HTTP2CServerConnectionFactory {
    private final Guard guard;

    GuardedH2c(HttpConfiguration http, Guard guard) {
      super(http);
      this.guard = guard;
    }

    @Override
    public Connection newConnection(Connector connector, EndPoint endPoint) {
      Connection c = super.newConnection(connector, endPoint);
      guard.watch(c);
      return c;
    }
  }

  private static final class GuardedH2 extends HTTP2ServerConnectionFactory {
    private final Guard guard;

    GuardedH2(HttpConfiguration http, Guard guard) {
      super(http);
      this.guard = guard;
    }

    @Override
    public Connection newConnection(Connector connector, EndPoint endPoint) {
      Connection c = super.newConnection(connector, endPoint);
      guard.watch(c);
      return c;
    }
  }
}
