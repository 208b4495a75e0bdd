package dev.meshlet.l7;

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
 * destination, resolved once per address rather than per request.
 */
final class Destinations {
  private static final Logger LOG = LoggerFactory.getLogger(HttpProxy.class);
  private static final long STALE_CHECK_NANOS = 1_000_000_000L;

  /** The pool setting that marks a drained backend's connections as closed when released. */
  private static final long DRAINED_MAX_DURATION_MILLIS = 1;

  private final HttpClient client;
  private final ConcurrentHashMap<InetSocketAddress, Server> servers = new ConcurrentHashMap<>();

  Destinations(HttpClient client) {
    this.client = client;
  }

  /**
   * The server at {@code endpoint}'s address, made once per address (not per {@code Endpoint}: live
   * updates make new endpoints for the same backends, and this map stays as small as the set of
   * backend addresses ever used).
   */
  Server server(Endpoint endpoint) {
    InetSocketAddress a = endpoint.address();
    Server s = servers.get(a);
    if (s == null) {
      s = servers.computeIfAbsent(a, Server::new);
    }
    return s;
  }

  /** A new HTTP/1.1 proxy request to {@code server}, idle for at most {@code idleMillis}. */
  Request newRequest(Server server, String method, String target, long idleMillis) {
    return client
        .newRequest(server.uri)
        .method(method)
        .version(HttpVersion.HTTP_1_1)
        .path(target)
        .idleTimeout(idleMillis, TimeUnit.MILLISECONDS);
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
    Destination fresh = client.resolveDestination(proxyRequest);
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
      if (reachable.contains(e.getKey())) {
        continue;
      }
      it.remove();
      // the destination stays Jetty's (removing it would close its busy connections too); once
      // empty, Jetty's sweeper drops it
      if (e.getValue().destination instanceof HttpDestination d
          && d.getConnectionPool() instanceof AbstractConnectionPool pool) {
        pool.setMaxDuration(
            DRAINED_MAX_DURATION_MILLIS); // a busy connection is closed when released
        for (Connection idle = pool.acquire(false); idle != null; idle = pool.acquire(false)) {
          idle.close();
        }
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

    private volatile @Nullable Destination destination;
    private volatile long checkedNanos;
    private final AtomicBoolean unresolved = new AtomicBoolean();

    Server(InetSocketAddress a) {
      String host = a.isUnresolved() ? a.getHostString() : a.getAddress().getHostAddress();
      String authority = host.indexOf(':') >= 0 ? "[" + host + "]" : host; // IPv6 literal
      this.uri = URI.create("http://" + authority + ":" + a.getPort());
    }

    /**
     * Why a try to {@code backend} failed, when its host name did not resolve ({@code failure} or a
     * cause is an {@link UnknownHostException}); null otherwise. Logs the first of an episode.
     */
    @Nullable String unresolved(String backend, Throwable failure) {
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

    /** A connection to the server was made: a resolution failure episode, if any, is over. */
    void connected() {
      if (unresolved.get() && unresolved.compareAndSet(true, false)) {
        LOG.info("backend {}: resolves again", uri.getHost());
      }
    }
  }
}
