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
