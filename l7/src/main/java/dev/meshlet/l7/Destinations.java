package dev.meshlet.l7;

import dev.meshlet.core.ClientTls;
import dev.meshlet.core.Endpoint;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.UnknownHostException;
import java.util.Iterator;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.eclipse.jetty.client.AbstractConnectionPool;
import org.eclipse.jetty.client.Connection;
import org.eclipse.jetty.client.Destination;
import org.eclipse.jetty.client.HttpClient;
import org.eclipse.jetty.client.Request;
import org.eclipse.jetty.client.Response;
import org.eclipse.jetty.client.transport.HttpDestination;
import org.eclipse.jetty.http.HttpVersion;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The backends' addresses as the proxy client sees them: the base URI of each, and its Jetty
 * destination, resolved once per address rather than per request. A backend of a cluster with
 * {@link ClientTls} is reached by the client for that TLS configuration, at {@code https://} and
 * its configured host name (the name verified and sent in SNI), connecting to the address its
 * endpoint resolved (see {@link #pinned}).
 */
final class Destinations {
  private static final Logger LOG = LoggerFactory.getLogger(HttpProxy.class);
  private static final long STALE_CHECK_NANOS = 1_000_000_000L;

  /** The pool setting that marks a drained backend's connections as closed when released. */
  private static final long DRAINED_MAX_DURATION_MILLIS = 1;

  private final HttpClient client;
  private final @Nullable HttpClient h2cClient;
  private final TlsClients tlsClients;
  private final ProxyConfig config;
  private final ConcurrentHashMap<InetSocketAddress, Server> servers = new ConcurrentHashMap<>();

  /** The servers reached in h2c: a backend in two clusters may be reached both ways. */
  private final ConcurrentHashMap<InetSocketAddress, Server> h2cServers = new ConcurrentHashMap<>();

  private final ConcurrentHashMap<TlsKey, Server> tlsServers = new ConcurrentHashMap<>();

  /** The address each TLS backend's {@code host:port} connects to, as its endpoint resolved it. */
  private final ConcurrentHashMap<String, InetSocketAddress> pinned = new ConcurrentHashMap<>();

  /** The proxy client for a TLS configuration, offering h2 by ALPN or not. */
  interface TlsClients {
    HttpClient client(ClientTls tls, boolean h2);
  }

  /**
   * @param client the plain proxy client
   * @param h2cClient the proxy client for h2c backends; null when no cluster is reached in HTTP/2
   * @param tlsClients the client for a TLS configuration (one per distinct {@link ClientTls})
   * @param config the protocol of each cluster
   */
  Destinations(
      HttpClient client,
      @Nullable HttpClient h2cClient,
      TlsClients tlsClients,
      ProxyConfig config) {
    this.client = client;
    this.h2cClient = h2cClient;
    this.tlsClients = tlsClients;
    this.config = config;
  }

  /** A TLS server: its address, its cluster's TLS configuration, and whether h2 is offered. */
  private record TlsKey(InetSocketAddress address, String host, ClientTls tls, boolean h2) {}

  /**
   * The address {@code host:port} of a TLS backend connects to, or null when it is no backend's: a
   * TLS request names its backend by host name, and this saves a lookup per connection.
   */
  @Nullable InetSocketAddress pinned(String host, int port) {
    return pinned.get(host + ":" + port);
  }

  /**
   * The server at {@code endpoint}'s address, made once per address (not per {@code Endpoint}: live
   * updates make new endpoints for the same backends, and this map stays as small as the set of
   * backend addresses ever used).
   */
  Server server(Endpoint endpoint) {
    InetSocketAddress a = endpoint.address();
    ClientTls tls = endpoint.cluster().tls();
    UpstreamProtocol protocol = config.upstreamProtocol(endpoint.cluster().name());
    if (tls != null) {
      return tlsServers.computeIfAbsent(
          new TlsKey(a, endpoint.backend().host(), tls, protocol != UpstreamProtocol.HTTP_1_1),
          this::tlsServer);
    }
    HttpClient h2c = h2cClient;
    if (protocol != UpstreamProtocol.HTTP_1_1 && h2c != null) {
      Server s = h2cServers.get(a);
      if (s == null) {
        s =
            h2cServers.computeIfAbsent(
                a, addr -> new Server(h2c, uri("http", addr), addr, HttpVersion.HTTP_2));
      }
      return s;
    }
    Server s = servers.get(a);
    if (s == null) {
      s =
          servers.computeIfAbsent(
              a, addr -> new Server(client, uri("http", addr), addr, HttpVersion.HTTP_1_1));
    }
    return s;
  }

  private Server tlsServer(TlsKey k) {
    if (!k.address.isUnresolved()) {
      pinned.put(k.host + ":" + k.address.getPort(), k.address);
    }
    URI uri =
        URI.create(
            "https://"
                + (k.host.indexOf(':') >= 0 ? "[" + k.host + "]" : k.host)
                + ":"
                + k.address.getPort());
    // h2 over TLS: no version, so that ALPN offers h2 and http/1.1 and the backend chooses
    return new Server(
        tlsClients.client(k.tls, k.h2), uri, k.address, k.h2 ? null : HttpVersion.HTTP_1_1);
  }

  private static URI uri(String scheme, InetSocketAddress a) {
    String host = a.isUnresolved() ? a.getHostString() : a.getAddress().getHostAddress();
    String authority = host.indexOf(':') >= 0 ? "[" + host + "]" : host; // IPv6 literal
    return URI.create(scheme + "://" + authority + ":" + a.getPort());
  }

  /** A new proxy request to {@code server} in its protocol, idle for at most {@code idleMillis}. */
  Request newRequest(Server server, String method, String target, long idleMillis) {
    Request r =
        server
            .client
            .newRequest(server.uri)
            .method(method)
            .path(target)
            .idleTimeout(idleMillis, TimeUnit.MILLISECONDS);
    HttpVersion v = server.version;
    return v == null ? r : r.version(v);
  }

  /**
   * Sends {@code proxyRequest} through {@code server}'s Jetty destination: {@code Request.send}
   * would resolve it per request with a {@code ConcurrentHashMap.compute} on one bin shared by
   * every request to that backend, a lock that stalls them all on one CPU.
   */
  void send(Server server, Request proxyRequest, Response.CompleteListener listener) {
    if (proxyRequest.getTag() != null) { // a PROXY header's: a destination per client connection
      proxyRequest.send(listener);
      return;
    }
    @Nullable Destination d = server.destination;
    long now = System.nanoTime();
    if (d == null || now - server.checkedNanos > STALE_CHECK_NANOS) {
      try {
        d = refresh(server, proxyRequest, now);
      } catch (RuntimeException x) {
        proxyRequest.send(listener); // Jetty's path, which fails the request as it should
        return;
      }
    }
    if (server.version != HttpVersion.HTTP_1_1) {
      Http2Authority.fromHost(proxyRequest); // the destination is resolved: the host may change
    }
    d.send(proxyRequest, listener);
  }

  /**
   * Jetty's destination sweeper drops a destination after it has been idle (no exchange, no
   * connection, no {@code stale()} check) for the destination idle timeout (at least 60 s).
   * Checking at least once a second keeps a destination in use from being swept between the check
   * and the send, and replaces one that was swept while unused.
   */
  private Destination refresh(Server server, Request proxyRequest, long now) {
    @Nullable Destination cached = server.destination;
    if (cached instanceof HttpDestination d && !d.stale()) {
      server.checkedNanos = now;
      return cached;
    }
    // Jetty's own resolution: creates the destination if absent or stale, and marks it active
    Destination fresh = server.client.resolveDestination(proxyRequest);
    if (fresh instanceof HttpDestination d
        && d.getConnectionPool() instanceof AbstractConnectionPool pool
        && pool.getMaxDuration() == DRAINED_MAX_DURATION_MILLIS) {
      pool.setMaxDuration(
          0); // a drained backend that routes reach again: its connections are pooled again
    }
    server.destination = fresh;
    server.checkedNanos = now;
    return fresh;
  }

  /**
   * Drains the servers no longer in {@code reachable}: each leaves the map (a backend added again
   * gets a fresh destination), its idle pooled connections are closed now and its busy ones when
   * their exchange ends (as Envoy drains a removed cluster), rather than at the idle timeout.
   */
  void retainOnly(Set<InetSocketAddress> reachable) {
    for (Iterator<Map.Entry<InetSocketAddress, Server>> it = servers.entrySet().iterator();
        it.hasNext(); ) {
      Map.Entry<InetSocketAddress, Server> e = it.next();
      if (!reachable.contains(e.getKey())) {
        it.remove();
        drain(e.getValue());
      }
    }
    for (Iterator<Map.Entry<InetSocketAddress, Server>> it = h2cServers.entrySet().iterator();
        it.hasNext(); ) {
      Map.Entry<InetSocketAddress, Server> e = it.next();
      if (!reachable.contains(e.getKey())) {
        it.remove();
        drain(e.getValue());
      }
    }
    for (Iterator<Map.Entry<TlsKey, Server>> it = tlsServers.entrySet().iterator();
        it.hasNext(); ) {
      Map.Entry<TlsKey, Server> e = it.next();
      if (!reachable.contains(e.getKey().address)) {
        it.remove();
        drain(e.getValue());
      }
    }
  }

  private static void drain(Server server) {
    // the destination stays Jetty's (removing it would close its busy connections too); once
    // empty, Jetty's sweeper drops it
    if (server.destination instanceof HttpDestination d
        && d.getConnectionPool() instanceof AbstractConnectionPool pool) {
      pool.setMaxDuration(DRAINED_MAX_DURATION_MILLIS); // a busy connection is closed when released
      for (Connection idle = pool.acquire(false); idle != null; idle = pool.acquire(false)) {
        idle.close();
      }
    }
  }

  /**
   * A backend address: the base URI of every request to it, its Jetty destination once resolved,
   * and whether its host name fails to resolve now (an episode, logged once when it begins).
   */
  static final class Server {
    /**
     * {@code http://host:port}: {@code HttpClient.newRequest(host, port)} would build and parse one
     * per request.
     */
    final URI uri;

    /** The proxy client that reaches it: the plain one, or the one for its cluster's TLS. */
    final HttpClient client;

    /** The version of its requests: null when ALPN chooses (h2 over TLS). */
    final @Nullable HttpVersion version;

    private final InetSocketAddress address;
    private volatile @Nullable Destination destination;
    private volatile long checkedNanos;
    private final AtomicBoolean unresolved = new AtomicBoolean();
    private final AtomicBoolean tlsFailing = new AtomicBoolean();

    Server(HttpClient client, URI uri, InetSocketAddress address, @Nullable HttpVersion version) {
      this.client = client;
      this.version = version;
      this.uri = uri;
      this.address = address;
    }

    /**
     * Why a try to {@code backend} failed, when the proxy can say: its host name did not resolve
     * ({@code beforeRequest} only), or the TLS handshake failed (logged once per episode); null for
     * other failures (refused, reset, timed out).
     */
    @Nullable Why diagnose(String backend, Throwable failure, boolean beforeRequest) {
      String why = beforeRequest ? unresolved(backend, failure) : null;
      if (why != null) {
        return new Why(HttpProxyStats.ErrorKind.UNRESOLVED_BACKEND, why);
      }
      String tls = BackendTls.reason(failure, uri.getHost());
      if (tls == null) {
        return null;
      }
      why = "backend " + backend + " (" + uri.getAuthority() + "): TLS handshake failed: " + tls;
      if (tlsFailing.compareAndSet(false, true)) {
        LOG.warn("{}; answering 502 until a handshake succeeds", why);
      }
      return new Why(HttpProxyStats.ErrorKind.BACKEND_TLS, why);
    }

    /**
     * Why a try to {@code backend} failed, when its host name did not resolve ({@code failure} or a
     * cause is an {@link UnknownHostException}); null otherwise. Logs the first of an episode.
     */
    private @Nullable String unresolved(String backend, Throwable failure) {
      for (Throwable t = failure; t != null; t = t.getCause()) {
        if (t instanceof UnknownHostException) {
          String why = "backend " + backend + ": host " + uri.getHost() + " does not resolve";
          if (unresolved.compareAndSet(false, true)) {
            String detail = t.getMessage(); // the JDK's is often just the host again
            LOG.warn(
                "{}{}; answering 502 until it resolves",
                why,
                detail == null || detail.equals(uri.getHost()) ? "" : " (" + detail + ")");
          }
          return why;
        }
      }
      return null;
    }

    /**
     * A connection to the server was made: a resolution or TLS failure episode, if any, is over.
     */
    void connected() {
      if (unresolved.get() && unresolved.compareAndSet(true, false)) {
        LOG.info("backend {}: resolves again", uri.getHost());
      }
      if (tlsFailing.get() && tlsFailing.compareAndSet(true, false)) {
        LOG.info("backend {}: TLS handshakes succeed again", uri.getAuthority());
      }
    }
  }

  /**
   * What a failed try is counted as and the reason said to the client and in the journal.
   *
   * @param kind the error kind
   * @param reason the reason, naming the backend
   */
  record Why(HttpProxyStats.ErrorKind kind, String reason) {}
}
