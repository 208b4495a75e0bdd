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
        new RouteTable(config.routes(), config.defaultRoute()));
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
   * The backend at {@code endpoint}'s address as the upstream side sees it, made once per address (not
   * per {@code Endpoint}: live updates make new endpoints for the same backends, and this map stays
   * as small as the set of backend addresses ever used).
   */
  Upstream upstream(Endpoint endpoint) {
    java.net.InetSocketAddress a = endpoint.address();
    Upstream u = upstreams.get(a);
    if (u == null) {
      u = upstreams.computeIfAbsent(a, Upstream::new);
    }
    return u;
  }

  /**
   * Sends {@code request} through {@code upstream}'s Jetty destination, resolved once per backend:
   * {@code Request.send} would resolve it per request with a {@code ConcurrentHashMap.compute} on one
   * bin shared by every request to that backend, a lock that stalls them all on one CPU.
   */
  void send(Upstream upstream, org.eclipse.jetty.client.Request request,
      org.eclipse.jetty.client.Response.CompleteListener listener) {
    org.eclipse.jetty.client.@Nullable Destination d = upstream.destination;
    long now = System.nanoTime();
    if (d == null || now - upstream.checkedNanos > STALE_CHECK_NANOS) {
      try {
        d = refresh(upstream, request, now);
      } catch (RuntimeException x) {
        request.send(listener); // Jetty's path, which fails the request as it should
        return;
      }
    }
    d.send(request, listener);
  }

  /**
   * Jetty's destination sweeper drops a destination after it has been idle (no exchange, no connection,
   * no {@code stale()} check) for the destination idle timeout (at least 60 s). Checking at least once
   * a second keeps a destination in use from being swept between the check and the send, and replaces
   * one that was swept while unused.
   */
  private org.eclipse.jetty.client.Destination refresh(Upstream upstream, org.eclipse.jetty.client.Request request,
      long now) {
    org.eclipse.jetty.client.@Nullable Destination cached = upstream.destination;
    if (cached instanceof org.eclipse.jetty.client.transport.HttpDestination d && !d.stale()) {
      upstream.checkedNanos = now;
      return cached;
    }
    // Jetty's own resolution: creates the destination if absent or stale, and marks it active
    org.eclipse.jetty.client.Destination fresh = client.resolveDestination(request);
    upstream.destination = fresh;
    upstream.checkedNanos = now;
    return fresh;
  }

  private static final long STALE_CHECK_NANOS = 1_000_000_000L;

  private final ConcurrentHashMap<java.net.InetSocketAddress, Upstream> upstreams = new ConcurrentHashMap<>();

  /** A backend address: the base URI of every request to it, and its Jetty destination once resolved. */
  static final class Upstream {
    /** {@code http://host:port}: {@code HttpClient.newRequest(host, port)} would build and parse one per request. */
    final java.net.URI uri;
    volatile org.eclipse.jetty.client.@Nullable Destination destination;
    volatile long checkedNanos;

    Upstream(java.net.InetSocketAddress a) {
      String host = a.isUnresolved() ? a.getHostString() : a.getAddress().getHostAddress();
      String authority = host.indexOf(':') >= 0 ? "[" + host + "]" : host; // IPv6 literal
      this.uri = java.net.URI.create("http://" + authority + ":" + a.getPort());
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
