package dev.meshlet.l7;

import dev.meshlet.core.Cluster;
import dev.meshlet.core.Journal;
import dev.meshlet.core.internal.JournalWriter;
import java.io.IOException;
import java.net.BindException;
import java.net.InetSocketAddress;
import java.net.URI;
import java.time.Duration;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Consumer;
import org.jspecify.annotations.Nullable;

/**
 * An HTTP/1.1 forwarding (reverse) proxy on Jetty 12: it routes each request by path, host,
 * headers, method or query to a {@link Cluster}, rewrites it, and streams both bodies (a small
 * request body is read whole first, see {@link Builder#requestBufferSize(int)}).
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
 * <p>What it contacts, how it parses and which threads it runs: see the {@linkplain dev.meshlet.l7
 * package}.
 */
public final class HttpProxy implements AutoCloseable {
  private final ProxyConfig config;
  private final ProxyCounters counters;
  private final JournalWriter<HttpEvent> journal;
  private final JettyStack jetty;
  private final AtomicBoolean closed = new AtomicBoolean();
  private final int port;

  private HttpProxy(ProxyConfig config) throws IOException {
    this.config = config;
    counters = new ProxyCounters(config.initialRoutes());
    config.initialRoutes().offerSeed(config.seed());
    journal =
        JournalWriter.create(
            config.journalCapacity(), "meshlet-l7 seed=0x" + Long.toHexString(config.seed()) + "L");
    jetty = new JettyStack(config, counters, journal);
    jetty.start();
    port = jetty.port();
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
   * An exchange's {@link HttpEvent.Completed} entry is recorded when it ends on the proxy, which
   * can be a moment after the client has read the response: wait for it with {@link
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
   *     Builder#journalCapacity(int)}
   */
  public List<HttpEvent.Completed> awaitRequests(int n, Duration timeout) {
    return journal.journal().awaitCount(HttpEvent.Completed.class, n, timeout);
  }

  /**
   * The seed every {@link HttpFault} toxicity draw comes from; pass it to {@link
   * Builder#seed(long)} to replay a run.
   */
  public long seed() {
    return config.seed();
  }

  /** A snapshot of the counters, for the proxy, per route and per backend. */
  public HttpProxyStats stats() {
    return counters.stats(closed.get(), jetty.handler.routes(), jetty.bodyBudget);
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
   * Stops accepting connections, lets requests in flight finish for up to the drain timeout, then
   * stops Jetty and every thread the proxy started. Idempotent; the port can be bound again after.
   */
  @Override
  public void close() {
    if (!closed.compareAndSet(false, true)) {
      return;
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

  /**
   * Collects an {@link HttpProxy}'s settings; {@link #start()} validates them all and starts it.
   * Defaults are listed on each method.
   */
  public static final class Builder {
    private final ProxySettings settings = new ProxySettings();

    private Builder() {}

    /**
     * Retries for routes that set none of their own; default {@link RetryPolicy#none()} (only the
     * stale pooled connection retry, which is always made).
     */
    public Builder retryPolicy(RetryPolicy policy) {
      settings.retryPolicy(policy);
      return this;
    }

    /**
     * The whole-request timeout for routes that set none: from the request's arrival to the end of
     * its response, retries included; 504 when no response began by then, otherwise the client
     * connection is aborted. Default {@link Duration#ZERO}, none.
     */
    public Builder requestTimeout(Duration d) {
      settings.requestTimeout(d);
      return this;
    }

    /**
     * How long a client may take to send its whole request body, counted from the arrival of its
     * request head; then it gets 408 Request Timeout and its connection is closed (as Envoy and
     * HAProxy answer a client too slow to send its request), unless a response is already under
     * way. A try in flight is aborted and not counted against its backend. The backend's {@link
     * #responseTimeout(Duration)} runs from the end of the body, so a slow upload is never a 504. A
     * body the backend has not asked for yet ({@code Expect: 100-continue}) is not late. Default 60
     * s; {@link Duration#ZERO} turns the deadline off.
     */
    public Builder requestBodyTimeout(Duration d) {
      settings.requestBodyTimeout(d);
      return this;
    }

    /**
     * The largest request body (by its {@code Content-Length}) the proxy reads whole before it
     * takes a backend connection, as nginx's {@code proxy_request_buffering} does: a slow upload
     * then holds no pooled connection of its backend while it trickles in. Larger bodies, chunked
     * bodies without a length and {@code Expect: 100-continue} bodies stream. The request body
     * deadline ({@link #requestBodyTimeout(Duration)}) holds while a body is read, and a body late
     * then is answered 408 without touching a backend. Default 64 KiB; 0 turns it off (bodies
     * stream unless retries need them buffered).
     */
    public Builder requestBufferSize(int bytes) {
      settings.requestBufferSize(bytes);
      return this;
    }

    /**
     * How many bytes all buffered request bodies ({@link #requestBufferSize(int)}, retry replay
     * buffers) may hold together; a body that would take more streams instead, counted in {@link
     * HttpProxyStats#buffering()} and logged once per episode. A buffer takes its bytes as they
     * arrive, never a declared length up front, and gives them back when its request ends. Default
     * 64 MiB; 0 buffers nothing (every body streams, and a retry cannot send one again).
     */
    public Builder requestBufferBudget(long bytes) {
      settings.requestBufferBudget(bytes);
      return this;
    }

    /**
     * The circuit breaker on pending requests: how many requests may wait for a connection to one
     * backend (all {@link #maxConnectionsPerBackend(int)} busy); more are answered 503 at once with
     * {@code X-Meshlet-Overflow: backend NAME max pending requests}. Default 1024.
     */
    public Builder maxPendingRequestsPerBackend(int n) {
      settings.maxPendingRequestsPerBackend(n);
      return this;
    }

    /**
     * The seed for the routes' {@link HttpFault} draws; default a random one, reported by {@link
     * HttpProxy#seed()} and {@link HttpProxy#toString()}. The same seed and the same sequence of
     * requests give the same faults.
     */
    public Builder seed(long seed) {
      settings.seed(seed);
      return this;
    }

    /**
     * How many entries the {@linkplain HttpProxy#journal() journal} keeps (older ones are dropped
     * and counted); default 10,000; 0 keeps none.
     */
    public Builder journalCapacity(int entries) {
      settings.journalCapacity(entries);
      return this;
    }

    /**
     * Listens on all interfaces (the wildcard address {@code 0.0.0.0}) at {@code port}, so other
     * machines can reach it; use {@link #listen(String, int)} with {@code 127.0.0.1} for this
     * machine only. 0 picks a free port (see {@link HttpProxy#port()}).
     */
    public Builder listen(int port) {
      return listen("0.0.0.0", port);
    }

    /** Listens on {@code host} (an IP literal or name) at {@code port}; 0 picks a free port. */
    public Builder listen(String host, int port) {
      settings.listen(host, port);
      return this;
    }

    /**
     * Adds a route; routes are tried in the order added, the first whose conditions all hold wins.
     *
     * <pre>{@code .route(r -> r.name("api").pathPrefix("/api/").to(apiCluster))}</pre>
     */
    public Builder route(Consumer<HttpRoute.Builder> spec) {
      settings.route(spec);
      return this;
    }

    /** Where requests no route matched go (route name {@code default}); without it they get 404. */
    public Builder defaultRoute(Cluster cluster) {
      settings.defaultRoute(cluster);
      return this;
    }

    /**
     * How long a backend may take to begin its response before the client gets 504, counted from
     * when it has the whole request (a client's slow body is {@link
     * #requestBodyTimeout(Duration)}'s); default 15 s. It holds both ways: unless a route sets its
     * own idle timeout, a try's connection may stay idle for the longer of {@link
     * #upstreamIdleTimeout(Duration)} and this plus 1 s. Keep it below {@link
     * #idleTimeout(Duration)}: a client connection idle for that long while waiting is given up on
     * first.
     */
    public Builder responseTimeout(Duration d) {
      settings.responseTimeout(d);
      return this;
    }

    /** How long connecting to a backend may take before the client gets 502; default 5 s. */
    public Builder connectTimeout(Duration d) {
      settings.connectTimeout(d);
      return this;
    }

    /** How long {@link HttpProxy#close()} lets requests in flight finish; default 5 s. */
    public Builder drainTimeout(Duration d) {
      settings.drainTimeout(d);
      return this;
    }

    /**
     * How long a client may take to send a complete request head (slowloris defence). On a new
     * connection it counts from connecting: a client that sent part of a head by then gets 408, one
     * that sent nothing at all is closed without an answer. On a kept-alive connection it counts
     * from the first byte of the next head, seen within about a fifth of this timeout (at most 250
     * ms); then the client gets 408 and the connection is closed. Silence between requests is
     * {@link #keepAliveTimeout(Duration)}'s. Default 10 s; {@link Duration#ZERO} turns the deadline
     * off.
     */
    public Builder requestHeadTimeout(Duration d) {
      settings.requestHeadTimeout(d);
      return this;
    }

    /**
     * How long a kept-alive client connection may wait, silent, for its next request after a
     * response (HAProxy's {@code timeout http-keep-alive}); then it is closed without an answer, as
     * no request began. Default 60 s; {@link Duration#ZERO} leaves such connections to {@link
     * #idleTimeout(Duration)}, which also closes them when it is the shorter.
     */
    public Builder keepAliveTimeout(Duration d) {
      settings.keepAliveTimeout(d);
      return this;
    }

    /**
     * How many connections the kernel may hold completed but not yet accepted (the listen backlog),
     * so that a burst of clients connecting at once waits there instead of being dropped; default
     * 1024. The kernel caps it at {@code net.core.somaxconn} on Linux (4096 on recent kernels).
     */
    public Builder acceptBacklog(int n) {
      settings.acceptBacklog(n);
      return this;
    }

    /**
     * How long a client connection may stay silent at any point (also in a request or response
     * body); then it is closed. Default 60 s.
     */
    public Builder idleTimeout(Duration d) {
      settings.idleTimeout(d);
      return this;
    }

    /**
     * How long a pooled connection to a backend may stay idle; default 15 s, shorter than the
     * keep-alive timeout of typical servers so that the proxy, not the backend, closes it. While a
     * try waits for its response, its connection may be idle for the longer of this and the
     * response timeout plus 1 s, so the response timeout is never cut short by this one.
     */
    public Builder upstreamIdleTimeout(Duration d) {
      settings.upstreamIdleTimeout(d);
      return this;
    }

    /**
     * The most connections open to one backend at a time; default 64. A request holds its
     * connection while its body streams in: more slow uploads than this keep every other request to
     * the backend waiting, up to the response timeout (200 bodies at a byte a second held normal
     * requests 15 s). Raise it when clients upload slowly; a higher limit also lets a burst of
     * requests open that many connections to the backend at once.
     */
    public Builder maxConnectionsPerBackend(int n) {
      settings.maxConnectionsPerBackend(n);
      return this;
    }

    /**
     * The most threads in the proxy's pool (named {@code meshlet-l7-N}); default 200, at least 8.
     */
    public Builder maxThreads(int n) {
      settings.maxThreads(n);
      return this;
    }

    /**
     * The selector threads that do the network I/O of both the accepted connections and those to
     * backends; default half the CPUs, 1 to 4. A new connection to a backend goes on the selector
     * of the request that needs it, so such a request is handled on one thread with no hand-off; a
     * pooled one may be on another selector. At least 4 fewer than {@link #maxThreads(int)}.
     */
    public Builder selectorThreads(int n) {
      settings.selectorThreads(n);
      return this;
    }

    /**
     * Logs one line per request at INFO to the SLF4J logger {@code dev.meshlet.l7.access}; default
     * off.
     */
    public Builder accessLog(boolean on) {
      settings.accessLog(on);
      return this;
    }

    /** Adds a header to every forwarded request (before route rewrites). */
    public Builder addRequestHeader(String name, String value) {
      settings.addRequestHeader(name, value);
      return this;
    }

    /** Sets a header on every forwarded request, replacing the client's (before route rewrites). */
    public Builder setRequestHeader(String name, String value) {
      settings.setRequestHeader(name, value);
      return this;
    }

    /** Removes a header from every forwarded request; {@code "X-Internal-*"} removes by prefix. */
    public Builder removeRequestHeader(String name) {
      settings.removeRequestHeader(name);
      return this;
    }

    /**
     * Adds a header to every response (after route rewrites), e.g. {@code
     * Strict-Transport-Security}.
     */
    public Builder addResponseHeader(String name, String value) {
      settings.addResponseHeader(name, value);
      return this;
    }

    /** Sets a header on every response, replacing the backend's (after route rewrites). */
    public Builder setResponseHeader(String name, String value) {
      settings.setResponseHeader(name, value);
      return this;
    }

    /**
     * Removes a header from every response, e.g. {@code Server}; {@code "X-Internal-*"} removes by
     * prefix.
     */
    public Builder removeResponseHeader(String name) {
      settings.removeResponseHeader(name);
      return this;
    }

    /**
     * Clients (IP addresses or CIDR blocks such as {@code 10.0.0.0/8}) whose {@code
     * X-Forwarded-Proto}, {@code -Host} and {@code -Port} are passed on; from anyone else they are
     * overwritten. Default: none.
     */
    public Builder trustedProxies(String... addressesOrBlocks) {
      settings.trustedProxies(addressesOrBlocks);
      return this;
    }

    /**
     * At an edge, drops the client's {@code X-Forwarded-For} entries so that the header holds only
     * the real peer address; default false (the peer is appended as the right-most entry).
     */
    public Builder dropClientForwardedFor(boolean on) {
      settings.dropClientForwardedFor(on);
      return this;
    }

    /**
     * The pseudonym in the {@code Via} header this proxy adds ({@code 1.1 meshlet}); default {@code
     * meshlet}.
     */
    public Builder via(String pseudonym) {
      settings.via(pseudonym);
      return this;
    }

    /**
     * The largest request head (request line and headers) in bytes; larger gets 431. Default 8192.
     */
    public Builder maxRequestHeaderSize(int bytes) {
      settings.maxRequestHeaderSize(bytes);
      return this;
    }

    /**
     * The longest request target (path and query) in characters; longer gets 414. Default 8192. A
     * target longer than {@link #maxRequestHeaderSize(int)} gets 414 or 431 from the parser.
     */
    public Builder maxUriLength(int chars) {
      settings.maxUriLength(chars);
      return this;
    }

    /**
     * What to do with request headers whose names hold an underscore ({@code X_Forwarded_For}),
     * which CGI-style backends read as the dashed name: false (the default) drops them, true
     * answers 400.
     */
    public Builder rejectUnderscoreHeaders(boolean reject) {
      settings.rejectUnderscoreHeaders(reject);
      return this;
    }

    /**
     * The most client connections open at once; at the limit the proxy stops accepting until one
     * closes. What a new client sees then: its connect succeeds (the kernel completes it into the
     * {@linkplain #acceptBacklog(int) listen backlog}) but its request gets no answer until a
     * connection closes; then it is accepted and served, its head deadline counting from then. Once
     * the backlog is full as well, new connects are not completed (the kernel drops or delays
     * them). Each time the limit is reached it is counted as {@link
     * HttpProxyStats.ErrorKind#CONNECTION_LIMIT} and the first time logged at WARN. Default 10,000.
     * Each proxied connection costs the process two file descriptors (client and backend): keep the
     * limit below half of {@code ulimit -n}.
     */
    public Builder maxConnections(int n) {
      settings.maxConnections(n);
      return this;
    }

    /**
     * Validates the settings and starts the proxy.
     *
     * @throws BindException naming the address when it cannot be bound (in use, or not an address
     *     of this machine)
     * @throws IllegalStateException when {@link #listen(int)} was not called or no route is set
     * @throws IllegalArgumentException when a route is incomplete, names repeat or the listen host
     *     is unknown
     */
    public HttpProxy start() throws IOException {
      return new HttpProxy(settings.build());
    }
  }
}
