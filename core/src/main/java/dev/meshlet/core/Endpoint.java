package dev.meshlet.core;

import java.net.InetSocketAddress;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;

/**
 * The live side of a {@link Backend} inside a {@link Cluster}: its address, resolved once, its
 * health, and its counters.
 *
 * <p>Proxies call {@link #begin()} when a connection or request to the backend starts and
 * {@link #end()} when it ends, and report each outcome with {@link #succeeded()} or
 * {@link #failed()}, which feed the cluster's outlier detection. Balancers read {@link #active()} and
 * {@link #weight()}. All of these are thread-safe and allocation-free.
 */
public final class Endpoint {
  private final Cluster cluster;
  private final Backend backend;
  private final InetSocketAddress address;
  private final AtomicInteger active = new AtomicInteger();
  private final AtomicInteger consecutiveFailures = new AtomicInteger();
  private final LongAdder total = new LongAdder();
  private final LongAdder failures = new LongAdder();
  private final LongAdder bytesIn = new LongAdder();
  private final LongAdder bytesOut = new LongAdder();
  private volatile boolean inService = true;
  private volatile int weight;

  // Written under the cluster's update lock; read by stats and rebuilds.
  volatile boolean healthy = true;
  volatile boolean ejected;
  long ejectedUntil;
  int ejections;
  boolean warming;
  long warmingSince;

  // Owned by the cluster's health-check thread.
  int checkSuccesses;
  int checkFailures;

  Endpoint(Cluster cluster, Backend backend) {
    this.cluster = cluster;
    this.backend = backend;
    this.weight = backend.weight();
    // Resolve once, here, on the caller's thread: a lookup per connection would pin virtual threads.
    this.address = new InetSocketAddress(backend.host(), backend.port());
  }

  /** The backend this endpoint stands for. */
  public Backend backend() {
    return backend;
  }

  /** The backend's address, resolved when the endpoint joined its cluster (may be unresolved). */
  public InetSocketAddress address() {
    return address;
  }

  /** Connections or requests in flight to this endpoint now. */
  public int active() {
    return active.get();
  }

  /**
   * The weight balancers use now: the backend's weight, or less while the endpoint is in its slow
   * start window (then scaled by 100 across the cluster, so fractions of a weight can be expressed).
   */
  public int weight() {
    return weight;
  }

  void weight(int weight) {
    this.weight = weight;
  }

  /** Whether the balancer may still pick this endpoint; false once it was removed from its cluster. */
  public boolean inService() {
    return inService;
  }

  /** Whether active health checks consider it healthy (always true without health checks). */
  public boolean healthy() {
    return healthy;
  }

  /** Whether outlier detection has ejected it for now. */
  public boolean ejected() {
    return ejected;
  }

  /** Records the start of a connection or request; pair with {@link #end()}. */
  public void begin() {
    active.incrementAndGet();
    total.increment();
  }

  /** Records the end of a connection or request started with {@link #begin()}. */
  public void end() {
    active.decrementAndGet();
  }

  /** Records a success (a connect, or a response that is not a server error): resets the failure streak. */
  public void succeeded() {
    if (consecutiveFailures.get() != 0) {
      consecutiveFailures.set(0);
    }
  }

  /**
   * Records a connect failure or an upstream error; enough of them in a row eject the endpoint when
   * the cluster has {@link OutlierDetection}.
   */
  public void failed() {
    failures.increment();
    int streak = consecutiveFailures.incrementAndGet();
    cluster.failureStreak(this, streak);
  }

  void resetFailureStreak() {
    consecutiveFailures.set(0);
  }

  /** Adds to the count of bytes received from the backend. */
  public void bytesIn(long n) {
    bytesIn.add(n);
  }

  /** Adds to the count of bytes sent to the backend. */
  public void bytesOut(long n) {
    bytesOut.add(n);
  }

  /** A snapshot of the counters and state. */
  public EndpointStats stats() {
    return new EndpointStats(active.get(), total.sum(), failures.sum(), bytesIn.sum(), bytesOut.sum(),
        inService, healthy, ejected, ejections, weight);
  }

  void retire() {
    inService = false;
  }

  @Override
  public String toString() {
    return backend.toString();
  }
}
