package dev.meshlet.l7;

import dev.meshlet.core.Cluster;
import dev.meshlet.core.Journal;
import dev.meshlet.core.ServerTls;
import dev.meshlet.core.internal.JournalWriter;
import dev.meshlet.l4.Toxics;
import dev.meshlet.l4.internal.TunnelSplicer;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.URI;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Consumer;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * An HTTP/1.1 and HTTP/2 forwarding (reverse) proxy on Jetty 12: it routes each request by path,
 * host, headers, method or query to a {@link Cluster}, rewrites it, and streams both bodies (a
 * small request body is read whole first, see {@link HttpProxyBuilder#requestBufferSize(int)}).
 *
 * <pre>{@code
 * try (HttpProxy proxy = HttpProxy.builder()
 *         .listen("127.0.0.1", 0)
 *         .route(r -> r.pathPrefix("/api/").to(apiPool))
 *         .route(r -> r.host("admin.example.com").to(adminPool))
 *         .route(r -> r.header("X-API-Version", "v2").to(v2Pool))
 *         .defaultRoute(webPool)
 *         .start()) {
 *   System.out.println("proxying on " + proxy.uri());
 * }
 * }</pre>
 *
 * <p><b>gRPC.</b> A gRPC call (content type {@code application/grpc}, {@code application/grpc+...}
 * or {@code application/grpc;...}) is proxied like any request, with gRPC's rules as Envoy applies
 * them. Its {@code grpc-timeout} (1 to 8 digits and a unit {@code H M S m u n}), less the route's
 * {@link HttpRouteBuilder#grpcTimeoutOffset(Duration) offset}, shortens the route's request
 * timeout; a malformed one is ignored. Whatever the proxy answers itself (no route, no backend, a
 * circuit breaker, a failed or timed-out try, an abort fault) reaches the call as a Trailers-Only
 * response: HTTP 200, {@code grpc-status} and {@code grpc-message}, no body; 502, 503, 504 and 429
 * are 14 UNAVAILABLE, 404 is 12 UNIMPLEMENTED, 403 7, 401 16, 400 13, others 2 UNKNOWN, and a
 * deadline or timeout that passed is 4 DEADLINE_EXCEEDED. Such an answer counts as the 200 the
 * client got; its {@link HttpProxyStats.ErrorKind} says why. {@link
 * RetryPolicy.Builder#retryOnGrpcStatus(int...)} retries a gRPC status in a response head.
 *
 * <p>What it contacts, how it parses and which threads it runs: see the {@linkplain dev.meshlet.l7
 * package}.
 */
public final class HttpProxy implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(HttpProxy.class);
  private final ProxyConfig config;
  private final ProxyCounters counters;
  private final JournalWriter<HttpEvent> journal;
  private final JettyStack jetty;
  private final AtomicBoolean closed = new AtomicBoolean();
  private final AtomicBoolean draining = new AtomicBoolean();
  private final int port;
  private final ReentrantLock tlsReloads = new ReentrantLock();
  private volatile @Nullable ServerTls tls;
  private final @Nullable TlsFileWatch tlsWatch;

  HttpProxy(ProxyConfig config) throws IOException {
    this.config = config;
    counters = new ProxyCounters(config.initialRoutes(), config.latencyHistograms());
    config.initialRoutes().offerSeed(config.seed());
    journal =
        JournalWriter.create(
            config.journalCapacity(), "meshlet-l7 seed=0x" + Long.toHexString(config.seed()) + "L");
    jetty = new JettyStack(config, counters, journal);
    jetty.start();
    port = jetty.port();
    ServerTls t = config.tls();
    tls = t;
    TlsFileWatch w = null;
    if (t != null && config.watchTlsFiles()) {
      try {
        w = TlsFileWatch.start(t, this::reloadFromWatch, port);
      } catch (IOException | RuntimeException e) {
        jetty.stop();
        throw new IOException("watching the TLS files of " + t + ": " + e.getMessage(), e);
      }
    }
    tlsWatch = w;
  }

  /** The listener's TLS now (after any reload), or null for plain HTTP. */
  public @Nullable ServerTls tls() {
    return tls;
  }

  /**
   * Replaces the listener's certificates, keys and client trust: the next handshake uses {@code
   * tls}; open connections go on with the session they have, nothing is dropped.
   *
   * @throws IllegalStateException when the proxy was started without {@link
   *     HttpProxyBuilder#tls(ServerTls) tls}
   */
  public void reloadTls(ServerTls tls) {
    Objects.requireNonNull(tls, "tls");
    tlsReloads.lock();
    try {
      jetty.reloadTls(tls);
      this.tls = tls;
    } finally {
      tlsReloads.unlock();
    }
  }

  /**
   * Reads the listener's certificates, keys and client trust again from the files they came from
   * ({@link ServerTls#reload()}) and uses them from the next handshake on.
   *
   * @return the configuration now in use
   * @throws IllegalArgumentException naming the file when one no longer reads; the certificates in
   *     use stay
   * @throws IllegalStateException when the proxy was started without TLS
   */
  public ServerTls reloadTls() {
    tlsReloads.lock();
    try {
      ServerTls current = tls;
      if (current == null) {
        throw new IllegalStateException("reloadTls: the proxy was started without tls(...)");
      }
      ServerTls fresh = current.reload();
      reloadTls(fresh);
      return fresh;
    } finally {
      tlsReloads.unlock();
    }
  }

  private void reloadFromWatch() {
    ServerTls fresh = reloadTls();
    LOG.info("TLS files changed: reloaded {}", fresh);
  }

  /**
   * Starts a builder; {@link HttpProxyBuilder#start()} validates the settings and starts the proxy.
   */
  public static HttpProxyBuilder builder() {
    return new HttpProxyBuilder();
  }

  /** The port the proxy listens on (the real one when it was asked for port 0). */
  public int port() {
    return port;
  }

  /** The address the proxy listens on; the wildcard address when it listens on all interfaces. */
  public InetSocketAddress address() {
    return new InetSocketAddress(config.host(), port);
  }

  /**
   * {@code http://HOST:PORT/} ({@code https://} with {@link HttpProxyBuilder#tls(ServerTls) TLS}),
   * with 127.0.0.1 for a proxy listening on all interfaces.
   */
  public URI uri() {
    String h = config.host();
    if (h.equals("0.0.0.0") || h.equals("::") || h.equals("0:0:0:0:0:0:0:0")) {
      h = "127.0.0.1";
    } else if (h.indexOf(':') >= 0) {
      h = "[" + h + "]";
    }
    return URI.create((config.tls() == null ? "http://" : "https://") + h + ":" + port + "/");
  }

  /**
   * What this proxy did, request by request (route, backend, status, faults applied), for tests to
   * assert on; see {@link HttpEvent}. Keeps the last {@link HttpProxyBuilder#journalCapacity(int)}
   * entries. An exchange's {@link HttpEvent.Completed} entry is recorded when it ends on the proxy,
   * which can be a moment after the client has read the response: wait for it with {@link
   * #awaitRequests(int, Duration)}. After {@link Journal#clear()}, nothing is journaled about a
   * request that arrived before the clear (a request a test left in flight does not show up in the
   * next test's journal).
   */
  public Journal<HttpEvent> journal() {
    return journal.journal();
  }

  /**
   * Waits until no request is in flight. When it returns, every request that ended is counted in
   * {@link #stats()}, and journaled if it arrived since the journal was last cleared.
   *
   * @throws AssertionError if requests are still in flight after {@code timeout}; the message gives
   *     the seed and the journal's last entries
   */
  public void awaitIdle(Duration timeout) {
    counters.awaitIdle(timeout, () -> this + ": ", journal.journal());
  }

  /**
   * Waits until at least {@code n} requests have completed since the proxy started (or the journal
   * was last cleared) and returns them from the journal, oldest first.
   *
   * @throws AssertionError naming the seed and the journal's last entries, on timeout
   * @throws IllegalArgumentException at once if {@code n} exceeds {@link
   *     HttpProxyBuilder#journalCapacity(int)}
   */
  public List<HttpEvent.Completed> awaitRequests(int n, Duration timeout) {
    return journal.journal().awaitCount(HttpEvent.Completed.class, n, timeout);
  }

  /**
   * The seed every {@link HttpFault} toxicity draw comes from; pass it to {@link
   * HttpProxyBuilder#seed(long)} to replay a run.
   */
  public long seed() {
    return config.seed();
  }

  /** A snapshot of the counters, for the proxy, per route and per backend. */
  public HttpProxyStats stats() {
    return counters.stats(closed.get() || draining.get(), jetty.handler.routes(), jetty.bodyBudget);
  }

  /**
   * The L4 toxics of route {@code routeName}'s upgraded connections (WebSocket tunnels), to add or
   * remove at runtime: as on a {@code TcpProxy}, a toxic added applies to new tunnels and to the
   * open ones, and a toxic removed stops acting at their next chunk of data. It starts with the
   * route's {@link HttpRouteBuilder#tunnelToxic tunnel toxics}; {@link Toxics#reset()} puts those
   * back. Kept by route name across {@link #replaceRoutes}.
   *
   * <pre>{@code
   * proxy.tunnelToxics("ws").add("cut", Toxic.resetPeer(Duration.ZERO).downstream());
   * }</pre>
   *
   * @throws IllegalArgumentException if no route in use now has that name
   */
  public Toxics tunnelToxics(String routeName) {
    return jetty.tunnels.of(route(routeName)).toxics();
  }

  /**
   * The counts of route {@code routeName}'s upgraded connections: tunnels, bytes each way, toxics
   * applied, resets and idle timeouts.
   *
   * @throws IllegalArgumentException if no route in use now has that name
   */
  public TunnelStats tunnelStats(String routeName) {
    TunnelSplicer s = jetty.tunnels.of(route(routeName));
    return new TunnelStats(
        s.opened(),
        s.open(),
        s.bytesUpstream(),
        s.bytesDownstream(),
        s.toxicsApplied(),
        s.resets(),
        s.idleTimeouts());
  }

  private HttpRoute route(String name) {
    Objects.requireNonNull(name, "routeName");
    List<HttpRoute> all = routes();
    for (HttpRoute r : all) {
      if (r.name().equals(name)) {
        return r;
      }
    }
    List<String> names = new ArrayList<>();
    for (HttpRoute r : all) {
      names.add(r.name());
    }
    throw new IllegalArgumentException("route: '" + name + "' (expected one of " + names + ")");
  }

  /**
   * Replaces the whole routing table at once: requests that arrive after this call are routed by
   * {@code spec}'s routes (and so reach their clusters and backends), requests in flight finish on
   * the route, cluster and backend they started with. Nothing is dropped; pooled connections to
   * backends no route reaches any more are closed at once when idle, busy ones after their
   * exchange.
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
    jetty.handler.replaceRoutes(RouteTable.of(t.routes, t.defaultCluster, config.seed()));
  }

  /**
   * Puts back the routes the proxy was built with, undoing every {@link #replaceRoutes(Consumer)},
   * and restarts their {@link HttpFault faults}: schedules count requests from 1 again and the
   * toxicity draws start over, so the same seed and the same requests give the same faults as right
   * after start. Requests in flight finish as they began. The JUnit extension calls it between
   * tests.
   *
   * @throws IllegalStateException when the proxy is closed
   */
  public void resetRoutes() {
    if (closed.get()) {
      throw new IllegalStateException("resetRoutes: proxy closed");
    }
    jetty.handler.replaceRoutes(config.initialRoutes()); // a new table: its faults start over
  }

  /** The routes in use now, in the order they are tried (the default route, if any, last). */
  public List<HttpRoute> routes() {
    return jetty.handler.routes().all();
  }

  /**
   * The route and cluster this proxy would take now for a request with {@code head}, or null when
   * no route applies (such a request gets 404): its routing table and matching code, as for a
   * request, without sending anything, counting it or drawing faults. For a split the cluster is
   * drawn by weight. Envoy's route table check, for tests of a routing setup:
   *
   * <pre>{@code
   * assertThat(proxy.routeFor(RequestHead.builder("GET", "/api/users").build()).route().name())
   *     .isEqualTo("api");
   * }</pre>
   */
  public HttpRoute.@Nullable Match routeFor(RequestHead head) {
    return jetty.handler.routes().match(Objects.requireNonNull(head, "head"));
  }

  /**
   * Stops accepting connections and lets the connections and requests open now go on: new
   * connections are refused, idle kept-alive connections are closed, a request in flight gets its
   * response with {@code Connection: close}, and {@link HttpProxyStats#draining()} turns true. For
   * an orderly shutdown behind a load balancer (an admin endpoint's drain); {@link #close()} still
   * ends what is left after the drain timeout. Idempotent; a drained proxy does not accept again.
   */
  public void drain() {
    if (draining.compareAndSet(false, true)) {
      jetty.shutdownConnector();
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
    if (tlsWatch != null) {
      tlsWatch.close();
    }
    jetty.close(counters, config.drainTimeout());
  }

  /**
   * The listening connector, whose selectors also serve the proxy client's connections (for tests).
   */
  SharedSelectorConnector connector() {
    return jetty.connector();
  }

  @Override
  public String toString() {
    return "HttpProxy["
        + uri()
        + " routes="
        + jetty.handler.routes().routes().size()
        + ", seed=0x"
        + Long.toHexString(config.seed())
        + "L]";
  }
}
