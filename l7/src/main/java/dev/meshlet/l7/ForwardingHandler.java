package dev.meshlet.l7;

import dev.meshlet.core.Endpoint;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import org.eclipse.jetty.client.HttpClient;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.Callback;
import org.eclipse.jetty.util.thread.Scheduler;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** The Jetty handler at the heart of the proxy: one {@link Exchange} per request, nothing blocks. */
final class ForwardingHandler extends Handler.Abstract.NonBlocking {
  static final Logger ACCESS_LOG = LoggerFactory.getLogger("dev.meshlet.l7.access");
  static final String EXCHANGE_ATTRIBUTE = "dev.meshlet.l7.exchange";

  final ProxyConfig config;
  final HttpClient client;
  final Scheduler scheduler;
  final @Nullable HeadDeadline headDeadline;
  final Counters total;
  final ConcurrentHashMap<String, Counters> routeCounters = new ConcurrentHashMap<>();
  final ConcurrentHashMap<Endpoint, Counters> backendCounters = new ConcurrentHashMap<>();
  final String viaSuffix;
  /** Fault injection and the journal (issue 7), set by the proxy before it starts. */
  long faultSeed;
  dev.meshlet.core.Journal<HttpEvent> journal = new dev.meshlet.core.Journal<>(0);
  final java.util.concurrent.atomic.AtomicLong requestIds = new java.util.concurrent.atomic.AtomicLong();
  /** Retries, timeouts, the live route table and drain state (issue 6), replaced by the proxy before it starts. */
  Resilience resilience;
  /** Notices clients leaving while their backend is silent; set by the proxy before it starts. */
  volatile @Nullable ClientWatcher clientWatcher;
  private final ReentrantLock drainLock = new ReentrantLock();
  private final Condition drained = drainLock.newCondition();

  ForwardingHandler(
      ProxyConfig config, HttpClient client, Scheduler scheduler, @Nullable HeadDeadline headDeadline, Counters total) {
    this.total = total;
    this.config = config;
    this.client = client;
    this.scheduler = scheduler;
    this.headDeadline = headDeadline;
    this.viaSuffix = " " + config.via();
    this.resilience = new Resilience(RetryPolicy.none(), java.time.Duration.ZERO,
        new Resilience.RouteTable(config.routes(), config.defaultRoute()));
    for (HttpRoute r : config.routes()) {
      routeCounters.put(r.name(), new Counters());
    }
    if (config.defaultRoute() != null) {
      routeCounters.put(config.defaultRoute().name(), new Counters());
    }
  }

  @Override
  public boolean handle(Request request, Response response, Callback callback) {
    Exchange exchange = new Exchange(this, request, response, callback);
    request.setAttribute(EXCHANGE_ATTRIBUTE, exchange);
    try {
      exchange.start();
    } catch (RuntimeException x) {
      exchange.startFailed(x); // else Jetty answers on its own and the exchange never ends
    }
    return true;
  }

  Counters routeCounters(HttpRoute route) {
    return routeCounters.computeIfAbsent(route.name(), k -> new Counters());
  }

  /**
   * Sends {@code upstream} through the Jetty destination of {@code endpoint}, resolved once per
   * endpoint: {@code Request.send} would resolve it per request with a {@code ConcurrentHashMap.compute}
   * on one bin shared by every request to that backend, a lock that stalls them all on one CPU.
   */
  void send(Endpoint endpoint, org.eclipse.jetty.client.Request upstream,
      org.eclipse.jetty.client.Response.CompleteListener listener) {
    CachedDestination c = destinations.get(endpoint.address());
    long now = System.nanoTime();
    if (c == null || now - c.checkedNanos > STALE_CHECK_NANOS) {
      try {
        c = refresh(endpoint, upstream, c, now);
      } catch (RuntimeException x) {
        upstream.send(listener); // Jetty's path, which fails the request as it should
        return;
      }
    }
    c.destination.send(upstream, listener);
  }

  /**
   * Jetty's destination sweeper drops a destination after it has been idle (no exchange, no connection,
   * no {@code stale()} check) for the destination idle timeout (at least 60 s). Checking at least once
   * a second keeps a destination in use from being swept between the check and the send, and replaces
   * one that was swept while unused.
   */
  private CachedDestination refresh(Endpoint endpoint, org.eclipse.jetty.client.Request upstream,
      @Nullable CachedDestination cached, long now) {
    if (cached != null && cached.destination instanceof org.eclipse.jetty.client.transport.HttpDestination d
        && !d.stale()) {
      cached.checkedNanos = now;
      return cached;
    }
    // Jetty's own resolution: creates the destination if absent or stale, and marks it active
    CachedDestination fresh = new CachedDestination(client.resolveDestination(upstream), now);
    destinations.put(endpoint.address(), fresh);
    return fresh;
  }

  private static final long STALE_CHECK_NANOS = 1_000_000_000L;

  // keyed by backend address, not Endpoint: live updates make new Endpoints for the same backends,
  // and the maps must stay as small as the set of backend addresses ever used
  private final ConcurrentHashMap<java.net.InetSocketAddress, CachedDestination> destinations = new ConcurrentHashMap<>();
  private final ConcurrentHashMap<java.net.InetSocketAddress, java.net.URI> upstreamUris = new ConcurrentHashMap<>();

  /** {@code http://host:port} of a backend, made once: the base of every upstream request to it. */
  java.net.URI upstreamUri(Endpoint endpoint) {
    java.net.InetSocketAddress a = endpoint.address();
    java.net.URI uri = upstreamUris.get(a);
    if (uri == null) {
      String host = a.isUnresolved() ? a.getHostString() : a.getAddress().getHostAddress();
      String authority = host.indexOf(':') >= 0 ? "[" + host + "]" : host; // IPv6 literal
      uri = java.net.URI.create("http://" + authority + ":" + a.getPort());
      upstreamUris.putIfAbsent(a, uri);
    }
    return uri;
  }

  private static final class CachedDestination {
    final org.eclipse.jetty.client.Destination destination;
    volatile long checkedNanos;

    CachedDestination(org.eclipse.jetty.client.Destination destination, long checkedNanos) {
      this.destination = destination;
      this.checkedNanos = checkedNanos;
    }
  }

  Counters backendCounters(Endpoint endpoint) {
    Counters c = backendCounters.get(endpoint);
    return c != null ? c : backendCounters.computeIfAbsent(endpoint, k -> new Counters());
  }

  /** Called when a request ends with {@code inFlight} left: wakes a draining close. */
  void ended(long inFlight) {
    if (inFlight == 0) {
      drainLock.lock();
      try {
        drained.signalAll();
      } finally {
        drainLock.unlock();
      }
    }
  }

  /** Waits up to {@code millis} for in-flight requests to finish; returns whether they did. */
  boolean awaitDrained(long millis) throws InterruptedException {
    long deadline = System.nanoTime() + millis * 1_000_000L;
    drainLock.lock();
    try {
      while (total.inFlight() > 0) {
        long left = deadline - System.nanoTime();
        if (left <= 0) {
          return false;
        }
        drained.awaitNanos(Math.min(left, 50_000_000L));
      }
      return true;
    } finally {
      drainLock.unlock();
    }
  }
}
