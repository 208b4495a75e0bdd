package dev.meshlet.l7;

import dev.meshlet.core.ClientTls;
import dev.meshlet.core.ServerTls;
import dev.meshlet.core.internal.Bind;
import dev.meshlet.core.internal.JournalWriter;
import dev.meshlet.core.internal.TlsContexts;
import java.io.IOException;
import java.net.BindException;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.locks.ReentrantLock;
import javax.net.ssl.SNIHostName;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLParameters;
import org.eclipse.jetty.alpn.server.ALPNServerConnectionFactory;
import org.eclipse.jetty.client.ContentDecoder;
import org.eclipse.jetty.client.ContinueProtocolHandler;
import org.eclipse.jetty.client.EarlyHintsProtocolHandler;
import org.eclipse.jetty.client.HttpClient;
import org.eclipse.jetty.client.HttpClientTransport;
import org.eclipse.jetty.client.ProcessingProtocolHandler;
import org.eclipse.jetty.client.ProtocolHandlers;
import org.eclipse.jetty.client.Request;
import org.eclipse.jetty.client.transport.HttpClientTransportOverHTTP;
import org.eclipse.jetty.http.HttpCompliance;
import org.eclipse.jetty.http.HttpCookieStore;
import org.eclipse.jetty.http.UriCompliance;
import org.eclipse.jetty.io.ClientConnector;
import org.eclipse.jetty.io.Content;
import org.eclipse.jetty.server.AbstractMetaDataConnection;
import org.eclipse.jetty.server.ConnectionFactory;
import org.eclipse.jetty.server.HttpConfiguration;
import org.eclipse.jetty.server.HttpConnectionFactory;
import org.eclipse.jetty.server.SecureRequestCustomizer;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.SslConnectionFactory;
import org.eclipse.jetty.util.Promise;
import org.eclipse.jetty.util.SocketAddressResolver;
import org.eclipse.jetty.util.component.LifeCycle;
import org.eclipse.jetty.util.ssl.SslContextFactory;
import org.eclipse.jetty.util.thread.Invocable;
import org.eclipse.jetty.util.thread.QueuedThreadPool;
import org.eclipse.jetty.util.thread.ScheduledExecutorScheduler;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * All of the proxy's Jetty in one place, the file to read on a Jetty upgrade: the thread pool and
 * scheduler, the server with its connector and error handler, the proxy client with its transport
 * and protocol handlers, and the order they start and stop in.
 */
final class JettyStack {
  private static final Logger LOG = LoggerFactory.getLogger(HttpProxy.class);

  /** The largest backend response head forwarded (Jetty's default); a larger one is a 502. */
  private static final int MAX_RESPONSE_HEAD = 8192;

  private final ProxyConfig config;
  private final QueuedThreadPool threads;
  private final ScheduledExecutorScheduler scheduler;
  private final HttpClient client;
  private final Destinations destinations;

  /** The client for h2c backends (sharing the plain one's selectors); null when none is h2c. */
  private final @Nullable HttpClient h2cClient;

  /**
   * One client per distinct upstream TLS configuration and protocol, made when a route first
   * reaches it.
   */
  private final Map<TlsProfile, HttpClient> tlsClients = new ConcurrentHashMap<>();

  private final ReentrantLock tlsClientsLock = new ReentrantLock();
  private volatile boolean stopped;

  /** The listener's TLS, reloaded in place; null for plain HTTP. */
  private final SslContextFactory.@Nullable Server serverTls;

  private final Server server;
  private final SharedSelectorConnector connector;
  private final @Nullable HeadDeadline headDeadline;
  private final ClientWatcher clientWatcher;
  private final Ledger ledger;
  final ForwardingHandler handler;
  final BodyBudget bodyBudget;

  /** Each route's splicer of upgraded connections; closed after the server. */
  final TunnelSplicers tunnels;

  JettyStack(ProxyConfig config, ProxyCounters counters, JournalWriter<HttpEvent> journal)
      throws IOException {
    this.config = config;
    threads = new ProxyThreadPool(config.maxThreads(), Math.min(4, config.maxThreads()));
    threads.setName("meshlet-l7");
    scheduler = new ScheduledExecutorScheduler("meshlet-l7-scheduler", false);

    server = new Server(threads, scheduler, null);
    HttpConfiguration http = new HttpConfiguration();
    http.setHttpCompliance(HttpCompliance.STRICT);
    http.setUriCompliance(UriCompliance.DEFAULT);
    http.setSendServerVersion(false);
    http.setSendDateHeader(false);
    http.setSendXPoweredBy(false);
    http.setRequestHeaderSize(config.maxRequestHeaderSize());
    http.setResponseHeaderSize(
        MAX_RESPONSE_HEAD + 4096); // room for the response headers the proxy adds
    http.setIdleTimeout(config.idleTimeout().toMillis());
    HttpConnectionFactory http1 = new HttpConnectionFactory(http);
    ConnectionFactory[] factories =
        config.h2c()
            ? new ConnectionFactory[] {http1, Http2Wiring.h2c(http, config, counters.total)}
            : new ConnectionFactory[] {http1};
    ServerTls tls = config.tls();
    if (tls != null) {
      // no SNI host check: the certificate was chosen by SNI, the Host header is routed, not
      // matched against it (a request to 127.0.0.1 with a localhost certificate is fine)
      http.addCustomizer(new SecureRequestCustomizer(false));
      serverTls = new SslContextFactory.Server();
      serverTls.setRenegotiationAllowed(false);
      apply(serverTls, tls);
      if (config.h2()) {
        // ALPN picks h2 or http/1.1; a client that offers neither (or no ALPN) gets HTTP/1.1
        ALPNServerConnectionFactory alpn = new ALPNServerConnectionFactory("h2", "http/1.1");
        alpn.setDefaultProtocol("http/1.1");
        factories =
            new ConnectionFactory[] {
              new SslConnectionFactory(serverTls, alpn.getProtocol()),
              alpn,
              Http2Wiring.h2(http, config, counters.total),
              http1
            };
      } else {
        factories =
            new ConnectionFactory[] {new SslConnectionFactory(serverTls, "http/1.1"), http1};
      }
    } else {
      serverTls = null;
    }
    // one selector thread serves the accepted and the proxy client's connections (see
    // SharedSelectorConnector)
    connector =
        new SharedSelectorConnector(
            server,
            counters.total,
            1,
            config.selectorThreads(),
            ProxyHeaders.listener(config, counters.total, factories));
    ClientConnector clientConnector = connector.newClientConnector();
    // the plain client never speaks TLS, but its connector would build and start a TLS context of
    // its own (the JDK's trust store read, cipher lists filtered): about a tenth of a start
    clientConnector.setSslContextFactory(PlainClientTls.shared());
    clientConnector.setExecutor(threads);
    clientConnector.setScheduler(scheduler);
    HttpClientTransportOverHTTP http11 = new HttpClientTransportOverHTTP(clientConnector);
    // The response listeners (Attempt) never block: run them on the selector thread that read the
    // response, as the server runs the NonBlocking handler, instead of handing each response to the
    // pool.
    http11.setInvocationType(Invocable.InvocationType.NON_BLOCKING);
    SocketAddressResolver literalsInline =
        new SharedSelectorConnector.LiteralsInline(
            new SocketAddressResolver.Async(
                threads, scheduler, config.connectTimeout().toMillis()));
    client = newClient(config, http11, threads, scheduler, literalsInline);
    // the h2c client shares the plain one's connector, and so the server's selectors
    h2cClient =
        config.upstreamProtocols().isEmpty()
            ? null
            : newClient(
                config,
                Http2Wiring.upstreamTransport(clientConnector, config, false),
                threads,
                scheduler,
                literalsInline);
    destinations = new Destinations(client, h2cClient, this::tlsClient, config);

    connector.setHost(config.host());
    connector.setPort(config.port());
    connector.setIdleTimeout(config.idleTimeout().toMillis());
    // shutdown() would cut every open connection's idle timeout to 1 s, failing with a 500 a
    // request
    // whose backend answers later; keep the configured ones: close() ends the drain at its deadline
    connector.setShutdownIdleTimeout(-1);
    connector.setReuseAddress(true);
    connector.setAcceptQueueSize(
        config.acceptBacklog()); // Jetty's default of 50 drops connect bursts
    long headMillis = config.requestHeadTimeout().toMillis();
    long keepAliveMillis = config.keepAliveTimeout().toMillis();
    HeadDeadline deadline = null;
    if (headMillis > 0 || keepAliveMillis > 0) {
      deadline = new HeadDeadline(scheduler, headMillis, keepAliveMillis, counters.total);
      connector.addBean(deadline);
    }
    headDeadline = deadline;
    server.addConnector(connector);
    connector.addBean(counters.connections);
    if (config.maxConnections() > 0) {
      server.addBean(new ConnectionCap(config.maxConnections(), counters.total, connector));
    }
    clientWatcher = new ClientWatcher(threads);
    AccessLog log = config.accessLog();
    ledger =
        new Ledger(
            counters,
            journal,
            log == null
                ? null
                : new AccessLogWriter(log, "meshlet-l7-access-log", counters.accessLogDropped),
            config.journalHeaders());
    bodyBudget = new BodyBudget(config.requestBufferBudget());
    tunnels = new TunnelSplicers(config.seed(), "meshlet-l7");
    handler =
        new ForwardingHandler(
            new ProxyContext(
                config,
                client,
                destinations,
                new Timeouts(scheduler, config, deadline),
                counters,
                ledger,
                clientWatcher,
                bodyBudget,
                tunnels));
    server.setHandler(Compressing.wrap(handler, config.compression()));
    server.setErrorHandler(new ShortErrorHandler(counters.total));
    server.setStopTimeout(0);
  }

  /** Sets {@code tls}'s certificates, trust, protocols and client-auth mode on {@code f}. */
  private static void apply(SslContextFactory.Server f, ServerTls tls) {
    f.setSslContext(TlsContexts.serverContext(tls));
    f.setIncludeProtocols(tls.protocols().toArray(new String[0]));
    f.setNeedClientAuth(tls.clientAuth() == ServerTls.ClientAuth.REQUIRE);
    f.setWantClientAuth(tls.clientAuth() == ServerTls.ClientAuth.REQUEST);
  }

  /**
   * Replaces the listener's certificates and trust: handshakes from now on use {@code tls}, open
   * connections keep the session they have.
   *
   * @throws IllegalStateException when the proxy was started without TLS
   */
  void reloadTls(ServerTls tls) {
    SslContextFactory.Server f = serverTls;
    if (f == null) {
      throw new IllegalStateException("reloadTls: the proxy was started without tls(...)");
    }
    try {
      f.reload(x -> apply((SslContextFactory.Server) x, tls));
    } catch (Exception e) {
      throw new IllegalStateException("reloadTls: " + e.getMessage(), e);
    }
  }

  /**
   * The proxy client for backends reached with {@code tls}: its own connector and selector (the
   * shared selector's connector holds one TLS configuration, the plain one), started on first use.
   */
  private HttpClient tlsClient(ClientTls tls, boolean h2) {
    TlsProfile profile = new TlsProfile(tls, h2);
    HttpClient c = tlsClients.get(profile);
    if (c != null) {
      return c;
    }
    tlsClientsLock.lock();
    try {
      c = tlsClients.get(profile);
      if (c != null) {
        return c;
      }
      if (stopped) {
        throw new IllegalStateException("the proxy is stopped");
      }
      String serverName = tls.serverName();
      SslContextFactory.Client f =
          new SslContextFactory.Client() {
            @Override
            public SSLEngine newSSLEngine(@Nullable String host, int port) {
              // the engine's peer host is what SNI names and hostname verification checks
              return super.newSSLEngine(serverName != null ? serverName : host, port);
            }

            @Override
            public void customize(SSLEngine engine) {
              super.customize(engine);
              // the JDK sends no SNI for a name without a dot ("localhost"): name it explicitly
              String name = engine.getPeerHost();
              if (name != null && TlsContexts.isHostName(name)) {
                SSLParameters params = engine.getSSLParameters();
                params.setServerNames(List.of(new SNIHostName(name)));
                engine.setSSLParameters(params);
              }
            }
          };
      f.setSslContext(TlsContexts.clientContext(tls));
      f.setEndpointIdentificationAlgorithm(tls.verifyHostname() ? "HTTPS" : null);
      f.setIncludeProtocols(tls.protocols().toArray(new String[0]));
      f.setRenegotiationAllowed(false);
      ClientConnector cc = new ClientConnector();
      cc.setSslContextFactory(f);
      cc.setSelectors(1);
      cc.setExecutor(threads);
      cc.setScheduler(scheduler);
      HttpClient created =
          newClient(
              config,
              h2 ? Http2Wiring.upstreamTransport(cc, config, true) : http11Transport(cc),
              threads,
              scheduler,
              new Pinned(
                  destinations,
                  new SocketAddressResolver.Async(
                      threads, scheduler, config.connectTimeout().toMillis())));
      try {
        created.start();
        configureStarted(created);
      } catch (Exception e) {
        LifeCycle.stop(created);
        throw new IllegalStateException("starting the TLS client for " + tls + ": " + e, e);
      }
      tlsClients.put(profile, created);
      return created;
    } finally {
      tlsClientsLock.unlock();
    }
  }

  /** A TLS client's upstream configuration: its TLS, and whether it offers h2 by ALPN. */
  private record TlsProfile(ClientTls tls, boolean h2) {}

  /** The HTTP/1.1 transport, whose response listeners run on the thread that read the response. */
  private static HttpClientTransportOverHTTP http11Transport(ClientConnector cc) {
    HttpClientTransportOverHTTP transport = new HttpClientTransportOverHTTP(cc);
    transport.setInvocationType(Invocable.InvocationType.NON_BLOCKING);
    return transport;
  }

  /** The proxy client, as a transparent proxy needs it (see NOTES: Jetty's defaults that hurt). */
  private static HttpClient newClient(
      ProxyConfig config,
      HttpClientTransport transport,
      QueuedThreadPool threads,
      ScheduledExecutorScheduler scheduler,
      SocketAddressResolver resolver) {
    HttpClient client = new HttpClient(transport);
    client.setExecutor(threads);
    client.setScheduler(scheduler);
    client.setFollowRedirects(false);
    client.setHttpCookieStore(new HttpCookieStore.Empty()); // before start()
    // with none configured, start() looks the decoders up through the class path's service files,
    // about a tenth of a start; this placeholder skips that and goes with the others after start
    client.getContentDecoderFactories().put(new NoDecoder());
    client.setUserAgentField(null);
    client.setDefaultRequestContentType(null);
    client.setConnectTimeout(config.connectTimeout().toMillis());
    client.setSocketAddressResolver(resolver);
    client.setIdleTimeout(config.upstreamIdleTimeout().toMillis());
    client.setMaxConnectionsPerDestination(config.maxConnectionsPerBackend());
    client.setMaxRequestsQueuedPerDestination(config.maxPendingRequestsPerBackend());
    // room for the headers the proxy adds (X-Forwarded-*, Via, X-Request-ID, configured ones): a
    // head
    // the server accepted must never fail as too large on its way to the backend, blamed on the
    // backend
    client.setMaxRequestHeadersSize(config.maxRequestHeaderSize() + 4096);
    // a backend's head too large to forward is refused by the client (502), not by the server (500)
    client.setMaxResponseHeadersSize(MAX_RESPONSE_HEAD);
    client.setDestinationIdleTimeout(Math.max(60_000, 2 * config.upstreamIdleTimeout().toMillis()));
    return client;
  }

  /**
   * Starts everything in order; on failure stops what started and throws, naming the address when
   * it cannot be bound.
   */
  void start() throws IOException {
    try {
      threads.start();
      scheduler.start();
      connector.getSelectorManager().start(); // the client's connections use it: before the client
      client.start();
      configureStarted(client);
      if (h2cClient != null) {
        Http2Wiring.startShared(h2cClient); // its connector is running: the plain client's
        configureStarted(h2cClient);
      }
      if (headDeadline != null) {
        headDeadline.start();
      }
      server.start();
    } catch (Exception e) {
      stop();
      BindException bind = bindException(e);
      if (bind != null) {
        throw Bind.failed(config.host(), config.port(), bind);
      }
      if (e instanceof IOException io) {
        throw io;
      }
      throw new IOException(
          "starting the HTTP proxy on " + config.host() + ":" + config.port() + ": " + e, e);
    }
  }

  /** What a transparent proxy's client must change after its start. */
  private static void configureStarted(HttpClient client) {
    // 12.1 installs the default decoders at start only if none are configured: clear them after.
    client.getContentDecoderFactories().clear();
    ProtocolHandlers protocolHandlers = client.getProtocolHandlers();
    protocolHandlers.clear(); // no redirects, no 401/407 challenges, no upgrades but ours
    protocolHandlers.put(new ProxyContinueHandler());
    protocolHandlers.put(new Upgrades.Handler()); // a 101 to an upgrade the proxy forwarded
    protocolHandlers.put(new ProcessingProtocolHandler());
    protocolHandlers.put(
        new EarlyHintsProtocolHandler()); // 103 is interim: dropped, the final response follows
  }

  /**
   * Resolves a TLS backend's host name to the address its endpoint resolved when it joined its
   * cluster: no lookup per connection, and the connection goes to that endpoint.
   */
  private record Pinned(Destinations destinations, SocketAddressResolver names)
      implements SocketAddressResolver {
    @Override
    public void resolve(
        String host,
        int port,
        Map<String, Object> context,
        Promise<List<InetSocketAddress>> promise) {
      InetSocketAddress a = destinations.pinned(host, port);
      if (a != null) {
        promise.succeeded(List.of(a));
      } else {
        names.resolve(host, port, context, promise);
      }
    }
  }

  /** The port bound (the real one when port 0 was asked for). */
  int port() {
    return connector.getLocalPort();
  }

  /** The listening connector, whose selectors also serve the proxy client's connections. */
  SharedSelectorConnector connector() {
    return connector;
  }

  /** Stops accepting connections (a draining close). */
  void shutdownConnector() {
    try {
      connector.shutdown();
    } catch (RuntimeException e) {
      LOG.debug("shutting down the connector", e);
    }
  }

  /**
   * Stops accepting, lets the requests in flight finish for up to {@code drain}, then stops
   * everything.
   */
  void close(ProxyCounters counters, Duration drain) {
    shutdownConnector();
    try {
      if (!counters.awaitDrained(drain.toMillis())) {
        LOG.warn(
            "closing with {} requests still in flight after the drain timeout of {} ms",
            counters.total.inFlight(),
            drain.toMillis());
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    stop();
  }

  /** Stops everything the proxy started; idempotent. */
  void stop() {
    if (headDeadline != null) {
      headDeadline.stop();
    }
    // the clients first: the plain one's connections run on the server connector's selectors,
    // which stop with the server
    tlsClientsLock.lock();
    try {
      stopped = true;
      tlsClients.values().forEach(c -> LifeCycle.stop(c));
      tlsClients.clear();
    } finally {
      tlsClientsLock.unlock();
    }
    if (h2cClient != null) {
      LifeCycle.stop(h2cClient);
    }
    LifeCycle.stop(client);
    LifeCycle.stop(server);
    tunnels.close(); // after the server, which closed the tunnels' endpoints
    clientWatcher.close();
    ledger.close(); // after the server: the last requests' lines are written too
    LifeCycle.stop(
        connector.getSelectorManager()); // stopped with the server, unless it never started
    LifeCycle.stop(scheduler);
    LifeCycle.stop(threads);
  }

  private static @Nullable BindException bindException(Throwable t) {
    for (Throwable c = t; c != null; c = c.getCause()) {
      if (c instanceof BindException b) {
        return b;
      }
    }
    return null;
  }

  /**
   * The proxy's pool. When a request's callback completes after {@code handle()} returned (always,
   * for a proxied request: it completes when the backend's response has been written), Jetty's
   * server connection resumes reading the client's next request by handing itself to the pool: one
   * thread wake-up and context switch per request. The handler never blocks, so that resumption
   * runs right away on the thread that completed the request (a selector thread, usually), as it
   * would have had the request completed inside {@code handle()}.
   */
  private static final class ProxyThreadPool extends QueuedThreadPool {
    ProxyThreadPool(int maxThreads, int minThreads) {
      super(maxThreads, minThreads);
      // no reserved threads: with one at hand, a selector that finds an HTTP/2 connection readable
      // hands its selecting to that thread and reads the frames itself, a thread switch per
      // wake-up; without, the frames are read where they were selected, as HTTP/1.1 requests are
      setReservedThreads(0);
    }

    @Override
    public void execute(Runnable job) {
      // the server's HTTP/1.1 connection (internal in Jetty) is known by its public superclass
      if (job instanceof AbstractMetaDataConnection && isRunning()) {
        try {
          job.run();
        } catch (RuntimeException | Error x) {
          LOG.warn("resuming a client connection", x); // what the pool would have done with it
        }
        return;
      }
      super.execute(job);
    }
  }

  /** Stands in for the default decoders until start; never asked to decode. */
  private static final class NoDecoder extends ContentDecoder.Factory {
    NoDecoder() {
      super("identity");
    }

    @Override
    public Content.Source newDecoderContentSource(Content.Source source) {
      return source;
    }
  }

  /**
   * Starts reading the body only when the backend answers 100 Continue (the client is told then).
   */
  private static final class ProxyContinueHandler extends ContinueProtocolHandler {
    @Override
    protected @Nullable Runnable onContinue(Request request) {
      Object content = request.getAttributes().get(ProxyRequestContent.ATTRIBUTE);
      return content instanceof ProxyRequestContent c ? c::open : null;
    }
  }
}
