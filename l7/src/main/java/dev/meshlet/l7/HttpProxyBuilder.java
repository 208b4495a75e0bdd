package dev.meshlet.l7;

import dev.meshlet.core.Cluster;
import dev.meshlet.core.ServerTls;
import dev.meshlet.l4.ProxyProtocol;
import java.io.IOException;
import java.net.BindException;
import java.time.Duration;
import java.util.Objects;
import java.util.function.Consumer;

/**
 * Collects an {@link HttpProxy}'s settings; {@link #start()} validates them all and starts it.
 * Defaults are listed on each method.
 */
public final class HttpProxyBuilder {
  private final ProxySettings settings = new ProxySettings();

  HttpProxyBuilder() {}

  /**
   * Retries for routes that set none of their own; default {@link RetryPolicy#none()} (only the
   * stale pooled connection retry, which is always made).
   */
  public HttpProxyBuilder retryPolicy(RetryPolicy policy) {
    settings.retryPolicy(policy);
    return this;
  }

  /**
   * The whole-request timeout for routes that set none: from the request's arrival to the end of
   * its response, retries included; 504 when no response began by then, otherwise the client
   * connection is aborted. Default {@link Duration#ZERO}, none.
   */
  public HttpProxyBuilder requestTimeout(Duration d) {
    settings.requestTimeout(d);
    return this;
  }

  /**
   * How long a client may take to send its whole request body, counted from the arrival of its
   * request head; then it gets 408 Request Timeout and its connection is closed (as Envoy and
   * HAProxy answer a client too slow to send its request), unless a response is already under way.
   * A try in flight is aborted and not counted against its backend. The backend's {@link
   * #responseTimeout(Duration)} runs from the end of the body, so a slow upload is never a 504. A
   * body the backend has not asked for yet ({@code Expect: 100-continue}) is not late. Default 60
   * s; {@link Duration#ZERO} turns the deadline off.
   */
  public HttpProxyBuilder requestBodyTimeout(Duration d) {
    settings.requestBodyTimeout(d);
    return this;
  }

  /**
   * The largest request body (by its {@code Content-Length}) the proxy reads whole before it takes
   * a backend connection, as nginx's {@code proxy_request_buffering} does: a slow upload then holds
   * no pooled connection of its backend while it trickles in. Larger bodies, chunked bodies without
   * a length and {@code Expect: 100-continue} bodies stream. The request body deadline ({@link
   * #requestBodyTimeout(Duration)}) holds while a body is read, and a body late then is answered
   * 408 without touching a backend. Default 64 KiB; 0 turns it off (bodies stream unless retries
   * need them buffered).
   */
  public HttpProxyBuilder requestBufferSize(int bytes) {
    settings.requestBufferSize(bytes);
    return this;
  }

  /**
   * Compresses responses (gzip) for clients whose {@code Accept-Encoding} allows it, as {@code
   * compression} says: never gRPC, already encoded or small bodies; each write flushed as it
   * streams. Off by default.
   *
   * <pre>{@code
   * HttpProxy.builder().compression(ResponseCompression.defaults())
   * }</pre>
   */
  public HttpProxyBuilder compression(ResponseCompression compression) {
    settings.compression(compression);
    return this;
  }

  /**
   * How many bytes all buffered request bodies ({@link #requestBufferSize(int)}, retry replay
   * buffers) may hold together; a body that would take more streams instead, counted in {@link
   * HttpProxyStats#buffering()} and logged once per episode. A buffer takes its bytes as they
   * arrive, never a declared length up front, and gives them back when its request ends. Default 64
   * MiB; 0 buffers nothing (every body streams, and a retry cannot send one again).
   */
  public HttpProxyBuilder requestBufferBudget(long bytes) {
    settings.requestBufferBudget(bytes);
    return this;
  }

  /**
   * The circuit breaker on pending requests: how many requests may wait for a connection to one
   * backend (all {@link #maxConnectionsPerBackend(int)} busy); more are answered 503 at once with
   * {@code X-Meshlet-Overflow: backend NAME max pending requests}. Default 1024.
   */
  public HttpProxyBuilder maxPendingRequestsPerBackend(int n) {
    settings.maxPendingRequestsPerBackend(n);
    return this;
  }

  /**
   * The seed for the routes' {@link HttpFault} draws; default a random one, reported by {@link
   * HttpProxy#seed()} and {@link HttpProxy#toString()}. The same seed and the same sequence of
   * requests give the same faults.
   */
  public HttpProxyBuilder seed(long seed) {
    settings.seed(seed);
    return this;
  }

  /**
   * How many entries the {@linkplain HttpProxy#journal() journal} keeps (older ones are dropped and
   * counted); default 10,000; 0 keeps none.
   */
  public HttpProxyBuilder journalCapacity(int entries) {
    settings.journalCapacity(entries);
    return this;
  }

  /**
   * Listens on all interfaces (the wildcard address {@code 0.0.0.0}) at {@code port}, so other
   * machines can reach it; use {@link #listen(String, int)} with {@code 127.0.0.1} for this machine
   * only. 0 picks a free port (see {@link HttpProxy#port()}).
   */
  public HttpProxyBuilder listen(int port) {
    return listen("0.0.0.0", port);
  }

  /** Listens on {@code host} (an IP literal or name) at {@code port}; 0 picks a free port. */
  public HttpProxyBuilder listen(String host, int port) {
    settings.listen(host, port);
    return this;
  }

  /**
   * Adds a route; routes are tried in the order added, the first whose conditions all hold wins.
   *
   * <pre>{@code .route(r -> r.name("api").pathPrefix("/api/").to(apiCluster))}</pre>
   */
  public HttpProxyBuilder route(Consumer<HttpRouteBuilder> spec) {
    settings.route(spec);
    return this;
  }

  /** Where requests no route matched go (route name {@code default}); without it they get 404. */
  public HttpProxyBuilder defaultRoute(Cluster cluster) {
    settings.defaultRoute(cluster);
    return this;
  }

  /**
   * How long a backend may take to begin its response before the client gets 504, counted from when
   * it has the whole request (a client's slow body is {@link #requestBodyTimeout(Duration)}'s);
   * default 15 s. It holds both ways: unless a route sets its own idle timeout, a try's connection
   * may stay idle for the longer of {@link #upstreamIdleTimeout(Duration)} and this plus 1 s. Keep
   * it below {@link #idleTimeout(Duration)}: a client connection idle for that long while waiting
   * is given up on first.
   */
  public HttpProxyBuilder responseTimeout(Duration d) {
    settings.responseTimeout(d);
    return this;
  }

  /** How long connecting to a backend may take before the client gets 502; default 5 s. */
  public HttpProxyBuilder connectTimeout(Duration d) {
    settings.connectTimeout(d);
    return this;
  }

  /** How long {@link HttpProxy#close()} lets requests in flight finish; default 5 s. */
  public HttpProxyBuilder drainTimeout(Duration d) {
    settings.drainTimeout(d);
    return this;
  }

  /**
   * How long a client may take to send a complete request head (slowloris defence). On a new
   * connection it counts from connecting: a client that sent part of a head by then gets 408, one
   * that sent nothing at all is closed without an answer. On a kept-alive connection it counts from
   * the first byte of the next head, seen within about a fifth of this timeout (at most 250 ms);
   * then the client gets 408 and the connection is closed. Silence between requests is {@link
   * #keepAliveTimeout(Duration)}'s. Default 10 s; {@link Duration#ZERO} turns the deadline off.
   */
  public HttpProxyBuilder requestHeadTimeout(Duration d) {
    settings.requestHeadTimeout(d);
    return this;
  }

  /**
   * How long a kept-alive client connection may wait, silent, for its next request after a response
   * (HAProxy's {@code timeout http-keep-alive}); then it is closed without an answer, as no request
   * began. Default 60 s; {@link Duration#ZERO} leaves such connections to {@link
   * #idleTimeout(Duration)}, which also closes them when it is the shorter.
   */
  public HttpProxyBuilder keepAliveTimeout(Duration d) {
    settings.keepAliveTimeout(d);
    return this;
  }

  /**
   * How many connections the kernel may hold completed but not yet accepted (the listen backlog),
   * so that a burst of clients connecting at once waits there instead of being dropped; default
   * 1024. The kernel caps it at {@code net.core.somaxconn} on Linux (4096 on recent kernels).
   */
  public HttpProxyBuilder acceptBacklog(int n) {
    settings.acceptBacklog(n);
    return this;
  }

  /**
   * How long a client connection may stay silent at any point (also in a request or response body);
   * then it is closed. Default 60 s.
   */
  public HttpProxyBuilder idleTimeout(Duration d) {
    settings.idleTimeout(d);
    return this;
  }

  /**
   * How long a pooled connection to a backend may stay idle; default 15 s, shorter than the
   * keep-alive timeout of typical servers so that the proxy, not the backend, closes it. While a
   * try waits for its response, its connection may be idle for the longer of this and the response
   * timeout plus 1 s, so the response timeout is never cut short by this one.
   */
  public HttpProxyBuilder upstreamIdleTimeout(Duration d) {
    settings.upstreamIdleTimeout(d);
    return this;
  }

  /**
   * The most connections open to one backend at a time; default 64. A request holds its connection
   * while its body streams in: more slow uploads than this keep every other request to the backend
   * waiting, up to the response timeout (200 bodies at a byte a second held normal requests 15 s).
   * Raise it when clients upload slowly; a higher limit also lets a burst of requests open that
   * many connections to the backend at once.
   */
  public HttpProxyBuilder maxConnectionsPerBackend(int n) {
    settings.maxConnectionsPerBackend(n);
    return this;
  }

  /** The most threads in the proxy's pool (named {@code meshlet-l7-N}); default 200, at least 8. */
  public HttpProxyBuilder maxThreads(int n) {
    settings.maxThreads(n);
    return this;
  }

  /**
   * The selector threads that do the network I/O of both the accepted connections and those to
   * backends; default half the CPUs, 1 to 4. A new connection to a backend goes on the selector of
   * the request that needs it, so such a request is handled on one thread with no hand-off; a
   * pooled one may be on another selector. At least 4 fewer than {@link #maxThreads(int)}.
   */
  public HttpProxyBuilder selectorThreads(int n) {
    settings.selectorThreads(n);
    return this;
  }

  /**
   * Keeps request and response headers in the journal, bounded and redacted as {@code capture}
   * says, and journals each try as an {@link HttpEvent.Forwarded} entry with the headers it sent;
   * default off (entries hold {@linkplain RecordedHeaders#none() no headers}). {@code
   * HeaderCapture.defaults()} keeps up to 4096 bytes per header set and redacts {@code
   * Authorization}, {@code Proxy-Authorization}, {@code Cookie} and {@code Set-Cookie}.
   */
  public HttpProxyBuilder journalHeaders(HeaderCapture capture) {
    settings.journalHeaders(capture);
    return this;
  }

  /**
   * Logs one line per request at INFO to the SLF4J logger {@code dev.meshlet.l7.access}; default
   * off.
   */
  public HttpProxyBuilder accessLog(boolean on) {
    settings.accessLog(on ? AccessLog.text() : null);
    return this;
  }

  /**
   * Logs one line per request as {@code log} says (text or JSON, from a bounded queue; see {@link
   * AccessLog}) at INFO to the SLF4J logger {@code dev.meshlet.l7.access}; default off.
   */
  public HttpProxyBuilder accessLog(AccessLog log) {
    settings.accessLog(Objects.requireNonNull(log, "log"));
    return this;
  }

  /**
   * Starts a W3C trace for a request without a valid {@code traceparent} (none, several, or
   * malformed): the proxy sends a new sampled one ({@code 00-<trace id>-<parent id>-01}, the same
   * on every try) and drops the request's {@code tracestate}. Default false: {@code traceparent}
   * and {@code tracestate} pass as they came. A valid {@code traceparent} always passes unchanged;
   * its trace id is in the journal and the access log either way.
   */
  public HttpProxyBuilder generateTraceparent(boolean on) {
    settings.generateTraceparent(on);
    return this;
  }

  /**
   * Whether requests' latencies go into the stats' histograms ({@link
   * HttpProxyStats.Counts#totalTime()} and {@code upstreamTime()}, for the proxy, each route and
   * each backend). Default true. Off, the histograms stay empty and every other counter is kept: a
   * switch for measuring what recording costs (about 10 ns per histogram, three per request), not a
   * setting a proxy needs.
   */
  public HttpProxyBuilder latencyHistograms(boolean on) {
    settings.latencyHistograms(on);
    return this;
  }

  /** Adds a header to every forwarded request (before route rewrites). */
  public HttpProxyBuilder addRequestHeader(String name, String value) {
    settings.addRequestHeader(name, value);
    return this;
  }

  /** Sets a header on every forwarded request, replacing the client's (before route rewrites). */
  public HttpProxyBuilder setRequestHeader(String name, String value) {
    settings.setRequestHeader(name, value);
    return this;
  }

  /** Removes a header from every forwarded request; {@code "X-Internal-*"} removes by prefix. */
  public HttpProxyBuilder removeRequestHeader(String name) {
    settings.removeRequestHeader(name);
    return this;
  }

  /**
   * Adds a header to every response (after route rewrites), e.g. {@code Strict-Transport-Security}.
   */
  public HttpProxyBuilder addResponseHeader(String name, String value) {
    settings.addResponseHeader(name, value);
    return this;
  }

  /** Sets a header on every response, replacing the backend's (after route rewrites). */
  public HttpProxyBuilder setResponseHeader(String name, String value) {
    settings.setResponseHeader(name, value);
    return this;
  }

  /**
   * Removes a header from every response, e.g. {@code Server}; {@code "X-Internal-*"} removes by
   * prefix.
   */
  public HttpProxyBuilder removeResponseHeader(String name) {
    settings.removeResponseHeader(name);
    return this;
  }

  /**
   * Requires every client connection to begin with a PROXY protocol header, v1 or v2 (HAProxy's
   * {@code send-proxy} / {@code send-proxy-v2}, or a {@code TcpProxy} in front with {@code
   * proxyProtocolOut}), as an L7 tier behind an L4 one needs. The header's source address is the
   * client's: {@code X-Forwarded-For}, the access log, the journal and {@code
   * Balancer.consistentHash()} see it. As the protocol's spec says, and unlike Jetty's default, a
   * connection without a header is closed, nothing forwarded, and counted as {@link
   * HttpProxyStats.ErrorKind#PROXY_HEADER}; one with a broken header is closed too. The header must
   * arrive within {@link #requestHeadTimeout} and fit in 1 KiB. Off by default.
   *
   * @param trustedFronts the addresses or blocks ({@code 10.0.0.0/8}, {@code 2001:db8::/32}, {@code
   *     192.0.2.7}) the fronts connect from: a connection from any other address is closed and
   *     counted too. None given: any address may send a header, so the port must be reachable from
   *     the fronts only, since any client could claim any address.
   * @throws IllegalArgumentException naming a block that does not parse
   */
  public HttpProxyBuilder proxyProtocolIn(String... trustedFronts) {
    settings.proxyProtocolIn(trustedFronts);
    return this;
  }

  /**
   * Sends each backend connection a PROXY protocol header of {@code version} naming the client's
   * address (the one a received PROXY header gave, with {@link #proxyProtocolIn}). The header
   * belongs to one client connection, so a backend connection carries the requests of that client
   * connection only: backend connections are pooled per client connection, not shared. Off by
   * default.
   */
  public HttpProxyBuilder proxyProtocolOut(ProxyProtocol version) {
    settings.proxyProtocolOut(version);
    return this;
  }

  /**
   * Clients (IP addresses or CIDR blocks such as {@code 10.0.0.0/8}) whose {@code
   * X-Forwarded-Proto}, {@code -Host} and {@code -Port} are passed on; from anyone else they are
   * overwritten. Default: none.
   */
  public HttpProxyBuilder trustedProxies(String... addressesOrBlocks) {
    settings.trustedProxies(addressesOrBlocks);
    return this;
  }

  /**
   * At an edge, drops the client's {@code X-Forwarded-For} entries so that the header holds only
   * the real peer address; default false (the peer is appended as the right-most entry).
   */
  public HttpProxyBuilder dropClientForwardedFor(boolean on) {
    settings.dropClientForwardedFor(on);
    return this;
  }

  /**
   * The pseudonym in the {@code Via} header this proxy adds ({@code 1.1 meshlet}); default {@code
   * meshlet}.
   */
  public HttpProxyBuilder via(String pseudonym) {
    settings.via(pseudonym);
    return this;
  }

  /**
   * The largest request head (request line and headers) in bytes; larger gets 431. Default 8192.
   */
  public HttpProxyBuilder maxRequestHeaderSize(int bytes) {
    settings.maxRequestHeaderSize(bytes);
    return this;
  }

  /**
   * The longest request target (path and query) in characters; longer gets 414. Default 8192. A
   * target longer than {@link #maxRequestHeaderSize(int)} gets 414 or 431 from the parser.
   */
  public HttpProxyBuilder maxUriLength(int chars) {
    settings.maxUriLength(chars);
    return this;
  }

  /**
   * What to do with request headers whose names hold an underscore ({@code X_Forwarded_For}), which
   * CGI-style backends read as the dashed name: false (the default) drops them, true answers 400.
   */
  public HttpProxyBuilder rejectUnderscoreHeaders(boolean reject) {
    settings.rejectUnderscoreHeaders(reject);
    return this;
  }

  /**
   * The most client connections open at once; at the limit the proxy stops accepting until one
   * closes. What a new client sees then: its connect succeeds (the kernel completes it into the
   * {@linkplain #acceptBacklog(int) listen backlog}) but its request gets no answer until a
   * connection closes; then it is accepted and served, its head deadline counting from then. Once
   * the backlog is full as well, new connects are not completed (the kernel drops or delays them).
   * Each time the limit is reached it is counted as {@link
   * HttpProxyStats.ErrorKind#CONNECTION_LIMIT} and the first time logged at WARN. Default 10,000.
   * Each proxied connection costs the process two file descriptors (client and backend): keep the
   * limit below half of {@code ulimit -n}.
   */
  public HttpProxyBuilder maxConnections(int n) {
    settings.maxConnections(n);
    return this;
  }

  /**
   * Terminates TLS on the listener: the certificates to show (chosen by SNI among several), TLS 1.3
   * and 1.2 only with the JDK's modern cipher suites, no renegotiation, and client certificates
   * when {@code tls} asks for them (mutual TLS; the peer's identity is then what {@link
   * HttpRouteBuilder#peer(String...)} matches and {@link HttpRouteBuilder#allowPeers(String...)}
   * authorizes). Requests then get {@code X-Forwarded-Proto: https}. Plain HTTP by default.
   * Certificates can be replaced while running: {@link HttpProxy#reloadTls(ServerTls)}, and, when
   * they were read from files, whenever those files change ({@link #watchTlsFiles(boolean)}).
   *
   * <pre>{@code
   * HttpProxy proxy = HttpProxy.builder()
   *     .listen(8443)
   *     .tls(ServerTls.of(TlsIdentity.pem(Path.of("server.crt"), Path.of("server.key"))))
   *     .defaultRoute(cluster)
   *     .start();
   * }</pre>
   */
  public HttpProxyBuilder tls(ServerTls tls) {
    settings.tls(tls);
    return this;
  }

  /**
   * Whether the proxy watches the files its {@link #tls(ServerTls)} certificates, keys and client
   * trust were read from, and reloads them when they change (open connections are kept); default
   * true. A change that does not read (a key that no longer matches, a half-written file) is logged
   * and the certificates in use stay; the watch tries again on the next change.
   */
  public HttpProxyBuilder watchTlsFiles(boolean on) {
    settings.watchTlsFiles(on);
    return this;
  }

  /**
   * Whether the client's verified certificate is described to the backend in an {@code
   * x-forwarded-client-cert} header, in Envoy's shape: {@code By=<proxy's URI SAN>;Hash=<SHA-256 of
   * the certificate, hex>;Subject="...";URI=...;DNS=...}; default false. An {@code
   * x-forwarded-client-cert} header sent by the client is always removed, whatever this says: only
   * the proxy vouches for a peer.
   */
  public HttpProxyBuilder forwardClientCert(boolean on) {
    settings.forwardClientCert(on);
    return this;
  }

  /**
   * Whether the listener also speaks HTTP/2 in clear text (h2c), on the same port as HTTP/1.1: by
   * prior knowledge (the client begins with the HTTP/2 preface) and by {@code Upgrade: h2c}.
   * Default false: a plain listener speaks HTTP/1.1 only, with nothing added to its path. See
   * {@link #http2(Http2Limits)} for the limits.
   */
  public HttpProxyBuilder h2c(boolean on) {
    settings.h2c(on);
    return this;
  }

  /**
   * Whether a {@link #tls(ServerTls) TLS} listener offers HTTP/2 by ALPN ({@code h2}, then {@code
   * http/1.1}); default true. A client that offers no ALPN, or only {@code http/1.1}, speaks
   * HTTP/1.1.
   */
  public HttpProxyBuilder h2(boolean on) {
    settings.h2(on);
    return this;
  }

  /** The HTTP/2 limits of both sides; default {@link Http2Limits#defaults()}. */
  public HttpProxyBuilder http2(Http2Limits limits) {
    settings.http2(limits);
    return this;
  }

  /**
   * The protocol spoken to the backends of {@code cluster} (matched by its name, also in routes
   * replaced later); default {@link UpstreamProtocol#HTTP_1_1}. Clients keep their own protocol.
   *
   * <pre>{@code
   * HttpProxy proxy = HttpProxy.builder()
   *     .listen(8080)
   *     .h2c(true)
   *     .upstreamProtocol(grpcBackends, UpstreamProtocol.H2C)
   *     .defaultRoute(grpcBackends)
   *     .start();
   * }</pre>
   *
   * @throws IllegalArgumentException for {@link UpstreamProtocol#H2C} on a cluster with TLS
   */
  public HttpProxyBuilder upstreamProtocol(Cluster cluster, UpstreamProtocol protocol) {
    settings.upstreamProtocol(cluster, protocol);
    return this;
  }

  /**
   * Validates the settings and starts the proxy.
   *
   * @throws BindException naming the address when it cannot be bound (in use, or not an address of
   *     this machine)
   * @throws IllegalStateException when {@link #listen(int)} was not called or no route is set
   * @throws IllegalArgumentException when a route is incomplete, names repeat or the listen host is
   *     unknown
   */
  public HttpProxy start() throws IOException {
    return new HttpProxy(settings.build());
  }
}
