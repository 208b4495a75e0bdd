package dev.meshlet.l7;

import dev.meshlet.core.Cluster;
import dev.meshlet.core.Journal;
import java.io.IOException;
import java.net.BindException;
import java.net.InetSocketAddress;
import java.net.URI;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Consumer;
import org.eclipse.jetty.client.ContinueProtocolHandler;
import org.eclipse.jetty.client.EarlyHintsProtocolHandler;
import org.eclipse.jetty.client.HttpClient;
import org.eclipse.jetty.client.ProcessingProtocolHandler;
import org.eclipse.jetty.client.ProtocolHandlers;
import org.eclipse.jetty.client.transport.HttpClientTransportOverHTTP;
import org.eclipse.jetty.http.HttpCompliance;
import org.eclipse.jetty.http.HttpCookieStore;
import org.eclipse.jetty.http.UriCompliance;
import org.eclipse.jetty.io.ClientConnector;
import org.eclipse.jetty.server.HttpConfiguration;
import org.eclipse.jetty.server.HttpConnectionFactory;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.util.component.LifeCycle;
import org.eclipse.jetty.util.thread.Invocable;
import org.eclipse.jetty.util.thread.QueuedThreadPool;
import org.eclipse.jetty.util.thread.ScheduledExecutorScheduler;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * An HTTP/1.1 forwarding (reverse) proxy on Jetty 12: it routes each request by path, host, headers,
 * method or query to a {@link Cluster}, rewrites it, and streams both bodies without buffering whole
 * messages.
 *
 * <pre>{@code
 * try (HttpProxy proxy = HttpProxy.builder()
 *         .listen(0)
 *         .route(r -> r.pathPrefix("/api/").to(apiPool))
 *         .route(r -> r.host("admin.example.com").to(adminPool))
 *         .route(r -> r.header("X-API-Version", "v2").to(v2Pool))
 *         .defaultRoute(webPool)
 *         .start()) {
 *   System.out.println("proxying on " + proxy.uri());
 * }
 * }</pre>
 *
 * <p>Only the clusters' backends are ever contacted: an absolute-form request target is routed like
 * any other request (its authority is not a destination) and CONNECT is answered 405. Requests are
 * parsed in Jetty's strictest mode, and ambiguous framing is answered 400 with the connection closed.
 *
 * <p>Threads: one Jetty {@code QueuedThreadPool} named {@code meshlet-l7-N}, shared by the server
 * and the upstream client, plus one scheduler thread and one thread ({@code meshlet-l7-client-watcher})
 * that notices clients leaving while their backend is silent. Route matchers (including
 * {@code pathRegex} and {@code headerRegex}) run on Jetty's network threads: keep their regexes free
 * of catastrophic backtracking; the access log is written from the pool. No virtual threads: the forwarding path never
 * blocks (bodies move on Jetty's demand callbacks), and Jetty's proxy measured slower on virtual
 * threads with few CPUs. {@link #close()} stops them all.
 */
public final class HttpProxy implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(HttpProxy.class);

  private final ProxyConfig config;
  private final QueuedThreadPool threads;
  private final ScheduledExecutorScheduler scheduler;
  private final HttpClient client;
  private final Server server;
  private final SharedSelectorConnector connector;
  private final ForwardingHandler handler;
  private final @Nullable HeadDeadline headDeadline;
  private final AtomicBoolean closed = new AtomicBoolean();
  /** The routing table the proxy was built with, which {@link #resetRoutes()} puts back. */
  private final RouteTable initialRoutes;
  private final int port;

  private HttpProxy(ProxyConfig config, long seed, int journalCapacity, RetryPolicy retryPolicy,
      Duration requestTimeout, int maxPendingRequests) throws IOException {
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
    http.setIdleTimeout(config.idleTimeout().toMillis());
    // one selector thread serves the accepted and the upstream connections (see SharedSelectorConnector)
    connector = new SharedSelectorConnector(server, 1, config.selectorThreads(), new HttpConnectionFactory(http));

    ClientConnector clientConnector = connector.newClientConnector();
    clientConnector.setExecutor(threads);
    clientConnector.setScheduler(scheduler);
    HttpClientTransportOverHTTP transport = new HttpClientTransportOverHTTP(clientConnector);
    // The response listeners (Exchange) never block: run them on the selector thread that read the
    // response, as the server runs the NonBlocking handler, instead of handing each response to the pool.
    transport.setInvocationType(Invocable.InvocationType.NON_BLOCKING);
    client = new HttpClient(transport);
    client.setExecutor(threads);
    client.setScheduler(scheduler);
    client.setFollowRedirects(false);
    client.setHttpCookieStore(new HttpCookieStore.Empty()); // before start()
    client.setUserAgentField(null);
    client.setDefaultRequestContentType(null);
    client.setConnectTimeout(config.connectTimeout().toMillis());
    client.setSocketAddressResolver(new SharedSelectorConnector.LiteralsInline(
        new org.eclipse.jetty.util.SocketAddressResolver.Async(threads, scheduler, config.connectTimeout().toMillis())));
    client.setIdleTimeout(config.upstreamIdleTimeout().toMillis());
    client.setMaxConnectionsPerDestination(config.maxConnectionsPerBackend());
    client.setMaxRequestsQueuedPerDestination(maxPendingRequests);
    // room for the headers the proxy adds (X-Forwarded-*, Via, X-Request-ID, configured ones): a head
    // the server accepted must never fail as too large on its way upstream, blamed on the backend
    client.setMaxRequestHeadersSize(config.maxRequestHeaderSize() + 4096);
    client.setDestinationIdleTimeout(Math.max(60_000, 2 * config.upstreamIdleTimeout().toMillis()));

    connector.setHost(config.host());
    connector.setPort(config.port());
    connector.setIdleTimeout(config.idleTimeout().toMillis());
    // shutdown() would cut every open connection's idle timeout to 1 s, failing with a 500 a request
    // whose backend answers later; keep the configured ones: close() ends the drain at its deadline
    connector.setShutdownIdleTimeout(-1);
    connector.setReuseAddress(true);
    long headMillis = config.requestHeadTimeout().toMillis();
    Counters total = new Counters();
    HeadDeadline deadline = null;
    if (headMillis > 0) {
      deadline = new HeadDeadline(scheduler, headMillis, total);
      connector.addBean(deadline);
    }
    server.addConnector(connector);
    if (config.maxConnections() > 0) {
      server.addBean(new ConnectionCap(config.maxConnections(), total, connector));
    }
    handler = new ForwardingHandler(config, client, scheduler, deadline, total);
    headDeadline = deadline;
    handler.faultSeed = seed;
    initialRoutes = new RouteTable(config.routes(), config.defaultRoute());
    handler.resilience = new Resilience(retryPolicy, requestTimeout, initialRoutes);
    handler.journal = new Journal<>(journalCapacity, "meshlet-l7 seed=0x" + Long.toHexString(seed) + "L");
    server.setHandler(handler);
    server.setErrorHandler(new ShortErrorHandler(total));
    server.setStopTimeout(0);

    try {
      threads.start();
      scheduler.start();
      connector.getSelectorManager().start(); // the client's connections use it: before the client
      client.start();
      // 12.1 installs the default decoders at start only if none are configured: clear them after.
      client.getContentDecoderFactories().clear();
      ProtocolHandlers protocolHandlers = client.getProtocolHandlers();
      protocolHandlers.clear(); // no redirects, no 401/407 challenges, no upgrades
      protocolHandlers.put(new ProxyContinueHandler());
      protocolHandlers.put(new ProcessingProtocolHandler());
      protocolHandlers.put(new EarlyHintsProtocolHandler()); // 103 is interim: dropped, the final response follows
      if (deadline != null) {
        deadline.start();
      }
      handler.clientWatcher = new ClientWatcher(threads);
      server.start();
    } catch (Exception e) {
      stopQuietly();
      BindException bind = bindException(e);
      if (bind != null) {
        String why = String.valueOf(bind.getMessage());
        BindException named = new BindException("listen " + config.host() + ":" + config.port() + ": "
            + (why.contains("in use") ? "address already in use" : "cannot bind") + " (" + why + ")");
        named.initCause(e);
        throw named;
      }
      if (e instanceof IOException io) {
        throw io;
      }
      throw new IOException("starting the HTTP proxy on " + config.host() + ":" + config.port() + ": " + e, e);
    }
    port = connector.getLocalPort();
  }

  /**
   * The proxy's pool. When a request's callback completes after {@code handle()} returned (always, for
   * a proxied request: it completes when the backend's response has been written), Jetty's server
   * connection resumes reading the client's next request by handing itself to the pool: one thread
   * wake-up and context switch per request. The handler never blocks, so that resumption runs
   * right away on the thread that completed the request (a selector thread, usually), as it would
   * have had the request completed inside {@code handle()}.
   */
  private static final class ProxyThreadPool extends QueuedThreadPool {
    ProxyThreadPool(int maxThreads, int minThreads) {
      super(maxThreads, minThreads);
    }

    @Override
    public void execute(Runnable job) {
      if (job instanceof org.eclipse.jetty.server.internal.HttpConnection && isRunning()) {
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

  /** Starts a builder; {@link Builder#start()} validates the settings and starts the proxy. */
  public static Builder builder() {
    return new Builder();
  }

  /** The port the proxy listens on (the real one when it was asked for port 0). */
  public int port() {
    return port;
  }

  /** The address the proxy listens on; the wildcard address when it listens on all interfaces. */
  public InetSocketAddress address() {
    return new InetSocketAddress(config.host(), port);
  }

  /** {@code http://HOST:PORT/}, with 127.0.0.1 for a proxy listening on all interfaces. */
  public URI uri() {
    String h = config.host();
    if (h.equals("0.0.0.0") || h.equals("::") || h.equals("0:0:0:0:0:0:0:0")) {
      h = "127.0.0.1";
    } else if (h.indexOf(':') >= 0) {
      h = "[" + h + "]";
    }
    return URI.create("http://" + h + ":" + port + "/");
  }

  /**
   * What this proxy did, request by request (route, backend, status, faults applied), for tests to
   * assert on; see {@link HttpEvent}. Keeps the last {@link Builder#journalCapacity(int)} entries.
   * An exchange's {@link HttpEvent.Completed} entry is recorded when it ends on the proxy, which can be
   * a moment after the client has read the response: wait for it with {@link #awaitRequests(int,
   * Duration)}. After {@link Journal#clear()}, nothing is journaled about a request that arrived
   * before the clear (a request a test left in flight does not show up in the next test's journal).
   */
  public Journal<HttpEvent> journal() {
    return handler.journal;
  }

  /**
   * Waits until no request is in flight. When it returns, every request that ended is counted in
   * {@link #stats()}, and journaled if it arrived since the journal was last cleared.
   *
   * @throws AssertionError if requests are still in flight after {@code timeout}; the message gives
   *     the seed and the journal's last entries
   */
  public void awaitIdle(Duration timeout) {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (handler.total.inFlight() > 0) {
      if (System.nanoTime() - deadline > 0) {
        throw new AssertionError(this + ": timed out after " + timeout + " waiting for no request in flight; "
            + handler.total.inFlight() + " in flight; " + handler.journal.describeTail(10));
      }
      java.util.concurrent.locks.LockSupport.parkNanos(1_000_000);
    }
  }

  /**
   * Waits until at least {@code n} requests have completed since the proxy started (or the journal
   * was last cleared) and returns them from the journal, oldest first.
   *
   * @throws AssertionError naming the seed and the journal's last entries, on timeout
   * @throws IllegalArgumentException at once if {@code n} exceeds {@link Builder#journalCapacity(int)}
   */
  public java.util.List<HttpEvent.Completed> awaitRequests(int n, Duration timeout) {
    return handler.journal.awaitCount(HttpEvent.Completed.class, n, timeout);
  }

  /**
   * The seed every {@link HttpFault} toxicity draw comes from; pass it to {@link Builder#seed(long)} to
   * replay a run.
   */
  public long seed() {
    return handler.faultSeed;
  }

  /** A snapshot of the counters, for the proxy, per route and per backend. */
  public HttpProxyStats stats() {
    Map<String, HttpProxyStats.Counts> routes = new HashMap<>();
    handler.routeCounters.forEach((name, c) -> routes.put(name, c.snapshot()));
    Map<String, HttpProxyStats.Counts> backends = new HashMap<>();
    handler.backendCounters.forEach((e, c) -> backends.merge(e.backend().displayName(), c.snapshot(), Counters::sum));
    Resilience r = handler.resilience;
    Map<String, dev.meshlet.core.ClusterStats> clusters = new java.util.LinkedHashMap<>();
    for (HttpRoute route : r.table.all()) {
      for (Cluster c : route.clusters()) {
        clusters.computeIfAbsent(c.name(), n -> c.stats());
      }
    }
    return new HttpProxyStats(handler.total.snapshot(), routes, backends, r.snapshot(), r.draining, clusters);
  }

  /**
   * Replaces the whole routing table at once: requests that arrive after this call are routed by
   * {@code spec}'s routes (and so reach their clusters and backends), requests in flight finish on
   * the route, cluster and backend they started with. Nothing is dropped; pooled connections to
   * backends no route reaches any more are closed when idle.
   *
   * <pre>{@code
   * proxy.replaceRoutes(t -> t
   *     .route(r -> r.name("api").pathPrefix("/api/").to(apiV2))
   *     .defaultRoute(web));
   * }</pre>
   *
   * @throws IllegalArgumentException when a route is incomplete or route names repeat
   * @throws IllegalStateException when the table has no route, or the proxy is closed
   */
  public void replaceRoutes(Consumer<Routes> spec) {
    Objects.requireNonNull(spec, "spec");
    if (closed.get()) {
      throw new IllegalStateException("replaceRoutes: proxy closed");
    }
    Routes t = new Routes();
    spec.accept(t);
    Builder.checkRoutes(t.routes, t.defaultCluster);
    handler.resilience.table = new RouteTable(
        t.routes, t.defaultCluster == null ? null : HttpRoute.catchAll(t.defaultCluster));
  }

  /**
   * Puts back the routes the proxy was built with, undoing every {@link #replaceRoutes(Consumer)}, and
   * restarts their {@link HttpFault faults}: schedules count requests from 1 again and the toxicity
   * draws start over, so the same seed and the same requests give the same faults as right after
   * start. Requests in flight finish as they began. The JUnit extension calls it between tests.
   *
   * @throws IllegalStateException when the proxy is closed
   */
  public void resetRoutes() {
    if (closed.get()) {
      throw new IllegalStateException("resetRoutes: proxy closed");
    }
    handler.resilience.table = initialRoutes.restarted();
  }

  /** The routes in use now, in the order they are tried (the default route, if any, last). */
  public List<HttpRoute> routes() {
    return handler.resilience.table.all();
  }

  /**
   * The route and cluster this proxy would take now for a request with {@code head}, or null when no
   * route applies (such a request gets 404): its routing table and matching code, as for a request,
   * without sending anything, counting it or drawing faults. For a split the cluster is drawn by
   * weight. Envoy's route table check, for tests of a routing setup:
   *
   * <pre>{@code
   * assertThat(proxy.routeFor(RequestHead.builder("GET", "/api/users").build()).route().name())
   *     .isEqualTo("api");
   * }</pre>
   */
  public HttpRoute.@Nullable Match routeFor(RequestHead head) {
    return handler.resilience.table.match(Objects.requireNonNull(head, "head"));
  }

  /** A new routing table for {@link HttpProxy#replaceRoutes(Consumer)}, built as the builder's routes are. */
  public static final class Routes {
    private final List<HttpRoute> routes = new ArrayList<>();
    private @Nullable Cluster defaultCluster;

    private Routes() {}

    /** Adds a route; routes are tried in the order added, the first whose conditions all hold wins. */
    public Routes route(Consumer<HttpRoute.Builder> spec) {
      Objects.requireNonNull(spec, "spec");
      routes.add(HttpRoute.build(spec, "route-" + (routes.size() + 1)));
      return this;
    }

    /** Where requests no route matched go (route name {@code default}); without it they get 404. */
    public Routes defaultRoute(Cluster cluster) {
      this.defaultCluster = Objects.requireNonNull(cluster, "cluster");
      return this;
    }
  }

  /**
   * Stops accepting connections, lets requests in flight finish for up to the drain timeout, then
   * stops Jetty and every thread the proxy started. Idempotent; the port can be bound again after.
   */
  @Override
  public void close() {
    if (!closed.compareAndSet(false, true)) {
      return;
    }
    handler.resilience.draining = true;
    try {
      connector.shutdown();
    } catch (RuntimeException e) {
      LOG.debug("shutting down the connector", e);
    }
    try {
      if (!handler.awaitDrained(config.drainTimeout().toMillis())) {
        LOG.warn("closing with {} requests still in flight after the drain timeout of {} ms",
            handler.total.inFlight(), config.drainTimeout().toMillis());
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    stopQuietly();
  }

  /** The listening connector, whose selectors also serve the upstream connections (for tests). */
  SharedSelectorConnector connector() {
    return connector;
  }

  private void stopQuietly() {
    if (headDeadline != null) {
      headDeadline.stop();
    }
    // the client first: its connections run on the server connector's selectors, which stop with the server
    LifeCycle.stop(client);
    LifeCycle.stop(server);
    ClientWatcher watcher = handler.clientWatcher;
    if (watcher != null) {
      watcher.close();
    }
    LifeCycle.stop(connector.getSelectorManager()); // stopped with the server, unless it never started
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

  @Override
  public String toString() {
    return "HttpProxy[" + uri() + " routes=" + handler.resilience.table.routes().size() + ", seed=0x"
        + Long.toHexString(handler.faultSeed) + "L]";
  }

  /** Starts reading the body only when the backend answers 100 Continue (the client is told then). */
  private static final class ProxyContinueHandler extends ContinueProtocolHandler {
    @Override
    protected @Nullable Runnable onContinue(org.eclipse.jetty.client.Request request) {
      Object exchange = request.getAttributes().get(Exchange.EXCHANGE_ATTRIBUTE_UPSTREAM);
      return exchange instanceof Exchange e ? e::onContinue : null;
    }
  }

  /**
   * Collects an {@link HttpProxy}'s settings; {@link #start()} validates them all and starts it.
   * Defaults are listed on each method.
   */
  public static final class Builder {
    private String host = "0.0.0.0";
    private int port = -1;
    private final List<HttpRoute> routes = new ArrayList<>();
    private @Nullable Cluster defaultCluster;
    private Duration responseTimeout = Duration.ofSeconds(15);
    private Duration connectTimeout = Duration.ofSeconds(5);
    private Duration drainTimeout = Duration.ofSeconds(5);
    private Duration requestHeadTimeout = Duration.ofSeconds(10);
    private Duration idleTimeout = Duration.ofSeconds(60);
    private Duration upstreamIdleTimeout = Duration.ofSeconds(15);
    private int maxConnectionsPerBackend = 64;
    private int maxThreads = 200;
    private int selectorThreads; // 0: half the CPUs, 1 to 4
    private boolean accessLog;
    private final HeaderOps.Collector requestHeaders = new HeaderOps.Collector("request");
    private final HeaderOps.Collector responseHeaders = new HeaderOps.Collector("response");
    private final List<String> trustedProxies = new ArrayList<>();
    private boolean dropClientForwardedFor;
    private String via = "meshlet";
    private int maxRequestHeaderSize = 8192;
    private int maxUriLength = 8192;
    private boolean rejectUnderscoreHeaders;
    private int maxConnections = 10_000;
    private @Nullable Long seed;
    private int journalCapacity = 10_000;
    private RetryPolicy retryPolicy = RetryPolicy.none();
    private Duration requestTimeout = Duration.ZERO;
    private int maxPendingRequestsPerBackend = 1024;

    private Builder() {}

    /**
     * Retries for routes that set none of their own; default {@link RetryPolicy#none()} (only the
     * stale pooled connection retry, which is always made).
     */
    public Builder retryPolicy(RetryPolicy policy) {
      this.retryPolicy = Objects.requireNonNull(policy, "policy");
      return this;
    }

    /**
     * The whole-request timeout for routes that set none: from the request's arrival to the end of its
     * response, retries included; 504 when no response began by then, otherwise the client
     * connection is aborted. Default {@link Duration#ZERO}, none.
     */
    public Builder requestTimeout(Duration d) {
      Objects.requireNonNull(d, "requestTimeout");
      if (d.isNegative()) {
        throw new IllegalArgumentException("requestTimeout: " + d + " (expected: >= 0, 0 for none)");
      }
      this.requestTimeout = d;
      return this;
    }

    /**
     * The circuit breaker on pending requests: how many requests may wait for a connection to one
     * backend (all {@link #maxConnectionsPerBackend(int)} busy); more are answered 503 at once with
     * {@code X-Meshlet-Overflow: backend NAME max pending requests}. Default 1024.
     */
    public Builder maxPendingRequestsPerBackend(int n) {
      if (n < 1) {
        throw new IllegalArgumentException("maxPendingRequestsPerBackend: " + n + " (expected: >= 1)");
      }
      this.maxPendingRequestsPerBackend = n;
      return this;
    }

    /**
     * The seed for the routes' {@link HttpFault} draws; default a random one, reported by
     * {@link HttpProxy#seed()} and {@link HttpProxy#toString()}. The same seed and the same sequence of
     * requests give the same faults.
     */
    public Builder seed(long seed) {
      this.seed = seed;
      return this;
    }

    /**
     * How many entries the {@linkplain HttpProxy#journal() journal} keeps (older ones are dropped and
     * counted); default 10,000; 0 keeps none.
     */
    public Builder journalCapacity(int entries) {
      if (entries < 0) {
        throw new IllegalArgumentException("journalCapacity: " + entries + " (expected: >= 0)");
      }
      this.journalCapacity = entries;
      return this;
    }

    /** Listens on all interfaces at {@code port}; 0 picks a free port (see {@link HttpProxy#port()}). */
    public Builder listen(int port) {
      return listen("0.0.0.0", port);
    }

    /** Listens on {@code host} (an IP literal or name) at {@code port}; 0 picks a free port. */
    public Builder listen(String host, int port) {
      Objects.requireNonNull(host, "host");
      if (host.isBlank()) {
        throw new IllegalArgumentException("listen host: blank (expected: e.g. 127.0.0.1 or 0.0.0.0)");
      }
      if (port < 0 || port > 65535) {
        throw new IllegalArgumentException("listen port: " + port + " (expected: 0-65535, 0 for any free port)");
      }
      this.host = host.strip();
      this.port = port;
      return this;
    }

    /**
     * Adds a route; routes are tried in the order added, the first whose conditions all hold wins.
     *
     * <pre>{@code .route(r -> r.name("api").pathPrefix("/api/").to(apiCluster))}</pre>
     */
    public Builder route(Consumer<HttpRoute.Builder> spec) {
      Objects.requireNonNull(spec, "spec");
      routes.add(HttpRoute.build(spec, "route-" + (routes.size() + 1)));
      return this;
    }

    /** Where requests no route matched go (route name {@code default}); without it they get 404. */
    public Builder defaultRoute(Cluster cluster) {
      this.defaultCluster = Objects.requireNonNull(cluster, "cluster");
      return this;
    }

    /**
     * How long a backend may take to begin its response before the client gets 504; default 15 s.
     * Keep it below {@link #idleTimeout(Duration)}: a client connection idle for that long while
     * waiting is given up on first.
     */
    public Builder responseTimeout(Duration d) {
      responseTimeout = positive("responseTimeout", d);
      return this;
    }

    /** How long connecting to a backend may take before the client gets 502; default 5 s. */
    public Builder connectTimeout(Duration d) {
      connectTimeout = positive("connectTimeout", d);
      return this;
    }

    /** How long {@link HttpProxy#close()} lets requests in flight finish; default 5 s. */
    public Builder drainTimeout(Duration d) {
      Objects.requireNonNull(d, "drainTimeout");
      if (d.isNegative()) {
        throw new IllegalArgumentException("drainTimeout: " + d + " (expected: >= 0)");
      }
      drainTimeout = d;
      return this;
    }

    /**
     * How long a client may take to send a complete request head, from connecting or from the end
     * of the previous response; then it gets 408 and the connection is closed. Default 10 s;
     * {@link Duration#ZERO} turns the deadline off.
     */
    public Builder requestHeadTimeout(Duration d) {
      Objects.requireNonNull(d, "requestHeadTimeout");
      if (d.isNegative()) {
        throw new IllegalArgumentException("requestHeadTimeout: " + d + " (expected: >= 0, 0 for none)");
      }
      requestHeadTimeout = d;
      return this;
    }

    /** How long a client connection may stay silent; default 60 s. */
    public Builder idleTimeout(Duration d) {
      idleTimeout = positive("idleTimeout", d);
      return this;
    }

    /**
     * How long a pooled connection to a backend may stay idle; default 15 s, shorter than the
     * keep-alive timeout of typical servers so that the proxy, not the backend, closes it.
     */
    public Builder upstreamIdleTimeout(Duration d) {
      upstreamIdleTimeout = positive("upstreamIdleTimeout", d);
      return this;
    }

    /** The most connections open to one backend at a time; default 64. */
    public Builder maxConnectionsPerBackend(int n) {
      if (n < 1) {
        throw new IllegalArgumentException("maxConnectionsPerBackend: " + n + " (expected: >= 1)");
      }
      maxConnectionsPerBackend = n;
      return this;
    }

    /** The most threads in the proxy's pool (named {@code meshlet-l7-N}); default 200, at least 8. */
    public Builder maxThreads(int n) {
      if (n < 8) {
        throw new IllegalArgumentException("maxThreads: " + n + " (expected: >= 8)");
      }
      maxThreads = n;
      return this;
    }

    /**
     * The selector threads that do the network I/O of both the accepted and the upstream connections;
     * default half the CPUs, 1 to 4. A new upstream connection goes on the selector of the request
     * that needs it, so such a request is handled on one thread with no hand-off; a pooled one may be
     * on another selector. At least 4 fewer than {@link #maxThreads(int)}.
     */
    public Builder selectorThreads(int n) {
      if (n < 1 || n > 64) {
        throw new IllegalArgumentException("selectorThreads: " + n + " (expected: 1-64)");
      }
      selectorThreads = n;
      return this;
    }

    /** Logs one line per request at INFO to the SLF4J logger {@code dev.meshlet.l7.access}; default off. */
    public Builder accessLog(boolean on) {
      accessLog = on;
      return this;
    }

    /** Adds a header to every forwarded request (before route rewrites). */
    public Builder addRequestHeader(String name, String value) {
      requestHeaders.add(HeaderOps.Kind.ADD, name, value);
      return this;
    }

    /** Sets a header on every forwarded request, replacing the client's (before route rewrites). */
    public Builder setRequestHeader(String name, String value) {
      requestHeaders.add(HeaderOps.Kind.SET, name, value);
      return this;
    }

    /** Removes a header from every forwarded request; {@code "X-Internal-*"} removes by prefix. */
    public Builder removeRequestHeader(String name) {
      requestHeaders.remove(name);
      return this;
    }

    /** Adds a header to every response (after route rewrites), e.g. {@code Strict-Transport-Security}. */
    public Builder addResponseHeader(String name, String value) {
      responseHeaders.add(HeaderOps.Kind.ADD, name, value);
      return this;
    }

    /** Sets a header on every response, replacing the backend's (after route rewrites). */
    public Builder setResponseHeader(String name, String value) {
      responseHeaders.add(HeaderOps.Kind.SET, name, value);
      return this;
    }

    /** Removes a header from every response, e.g. {@code Server}; {@code "X-Internal-*"} removes by prefix. */
    public Builder removeResponseHeader(String name) {
      responseHeaders.remove(name);
      return this;
    }

    /**
     * Clients (IP addresses or CIDR blocks such as {@code 10.0.0.0/8}) whose {@code X-Forwarded-Proto},
     * {@code -Host} and {@code -Port} are passed on; from anyone else they are overwritten. Default: none.
     */
    public Builder trustedProxies(String... addressesOrBlocks) {
      for (String a : addressesOrBlocks) {
        ProxyConfig.Cidr.parse(Objects.requireNonNull(a, "trusted proxy"));
        trustedProxies.add(a);
      }
      return this;
    }

    /**
     * At an edge, drops the client's {@code X-Forwarded-For} entries so that the header holds only
     * the real peer address; default false (the peer is appended as the right-most entry).
     */
    public Builder dropClientForwardedFor(boolean on) {
      dropClientForwardedFor = on;
      return this;
    }

    /** The pseudonym in the {@code Via} header this proxy adds ({@code 1.1 meshlet}); default {@code meshlet}. */
    public Builder via(String pseudonym) {
      Objects.requireNonNull(pseudonym, "pseudonym");
      if (pseudonym.isEmpty() || !pseudonym.chars().allMatch(c -> Rfc.isTokenChar((char) c))) {
        throw new IllegalArgumentException("via '" + pseudonym + "': expected a token such as meshlet");
      }
      via = pseudonym;
      return this;
    }

    /** The largest request head (request line and headers) in bytes; larger gets 431. Default 8192. */
    public Builder maxRequestHeaderSize(int bytes) {
      if (bytes < 256 || bytes > 1 << 20) {
        throw new IllegalArgumentException("maxRequestHeaderSize: " + bytes + " (expected: 256-1048576)");
      }
      maxRequestHeaderSize = bytes;
      return this;
    }

    /**
     * The longest request target (path and query) in characters; longer gets 414. Default 8192. A
     * target longer than {@link #maxRequestHeaderSize(int)} gets 414 or 431 from the parser.
     */
    public Builder maxUriLength(int chars) {
      if (chars < 16) {
        throw new IllegalArgumentException("maxUriLength: " + chars + " (expected: >= 16)");
      }
      maxUriLength = chars;
      return this;
    }

    /**
     * What to do with request headers whose names hold an underscore ({@code X_Forwarded_For}), which
     * CGI-style backends read as the dashed name: false (the default) drops them, true answers 400.
     */
    public Builder rejectUnderscoreHeaders(boolean reject) {
      rejectUnderscoreHeaders = reject;
      return this;
    }

    /**
     * The most client connections open at once; at the limit the proxy stops accepting (new clients
     * wait in the listen backlog) until one closes. Each time the limit is reached it is counted as
     * {@link HttpProxyStats.ErrorKind#CONNECTION_LIMIT} and the first time logged at WARN. Default
     * 10,000.
     */
    public Builder maxConnections(int n) {
      if (n < 1) {
        throw new IllegalArgumentException("maxConnections: " + n + " (expected: >= 1)");
      }
      maxConnections = n;
      return this;
    }

    /**
     * Validates the settings and starts the proxy.
     *
     * @throws BindException naming the address when it cannot be bound (in use, or not an address of
     *     this machine)
     * @throws IllegalStateException when {@link #listen(int)} was not called or no route is set
     * @throws IllegalArgumentException when a route is incomplete, names repeat or the listen host is unknown
     */
    public HttpProxy start() throws IOException {
      if (port < 0) {
        throw new IllegalStateException("no listen port (expected: .listen(port), 0 for any free port)");
      }
      if (routes.isEmpty() && defaultCluster == null) {
        throw new IllegalStateException("no routes (expected: at least one .route(...) or .defaultRoute(cluster))");
      }
      checkRoutes(routes, defaultCluster);
      try {
        java.net.InetAddress.getByName(host); // as TcpProxy: an unknown listen host is a configuration error
      } catch (java.net.UnknownHostException e) {
        throw new IllegalArgumentException("listen host '" + host + "': unknown host", e);
      }
      List<ProxyConfig.Cidr> trusted = new ArrayList<>();
      for (String t : trustedProxies) {
        trusted.add(ProxyConfig.Cidr.parse(t));
      }
      ProxyConfig config = new ProxyConfig(
          host, port, routes, defaultCluster == null ? null : HttpRoute.catchAll(defaultCluster),
          responseTimeout, connectTimeout, drainTimeout, requestHeadTimeout, idleTimeout,
          upstreamIdleTimeout, maxConnectionsPerBackend, maxThreads, accessLog,
          requestHeaders.build(), responseHeaders.build(), trusted, dropClientForwardedFor, via,
          maxRequestHeaderSize, maxUriLength, rejectUnderscoreHeaders, maxConnections, selectors());
      return new HttpProxy(config, seed != null ? seed : java.util.concurrent.ThreadLocalRandom.current().nextLong(),
          journalCapacity, retryPolicy, requestTimeout, maxPendingRequestsPerBackend);
    }

    /** The selector threads: as set (checked against maxThreads), or half the CPUs, 1 to 4. */
    private int selectors() {
      if (selectorThreads == 0) {
        return Math.max(1, Math.min(4, Runtime.getRuntime().availableProcessors() / 2));
      }
      if (selectorThreads + 4 > maxThreads) {
        throw new IllegalArgumentException("selectorThreads (" + selectorThreads + ") + 4 exceeds maxThreads ("
            + maxThreads + "): the pool also runs the acceptor and the requests");
      }
      return selectorThreads;
    }

    static void checkRoutes(List<HttpRoute> routes, @Nullable Cluster defaultCluster) {
      if (routes.isEmpty() && defaultCluster == null) {
        throw new IllegalStateException("no routes (expected: at least one .route(...) or .defaultRoute(cluster))");
      }
      Set<String> names = new HashSet<>();
      for (HttpRoute r : routes) {
        if (!names.add(r.name()) || r.name().equals("default") && defaultCluster != null) {
          throw new IllegalArgumentException("route name '" + r.name() + "' used twice (expected: unique names)");
        }
      }
    }

    private static Duration positive(String what, Duration d) {
      Objects.requireNonNull(d, what);
      if (d.isNegative() || d.isZero()) {
        throw new IllegalArgumentException(what + ": " + d + " (expected: > 0)");
      }
      return d;
    }
  }
}
