package dev.meshlet.core;

import dev.meshlet.core.internal.Access;
import dev.meshlet.core.internal.Lease;
import java.net.InetSocketAddress;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;

/**
 * The live side of a {@link Backend} inside a {@link Cluster}: its address, resolved once, its
 * health, and its counters.
 *
 * <p>Proxies count each connection or request to the endpoint, and report its outcome, which feeds
 * the cluster's outlier detection. Balancers read {@link #active()} and {@link #weight()}. All of
 * these are thread-safe and allocation-free.
 *
 * <p>{@link #healthy()}, {@link #ejected()} and {@link #weight()} are this endpoint's newest state;
 * {@link Cluster#stats()} and the cluster's picks read the cluster's snapshot, which is published a
 * moment later. For what the balancer picks from, read the cluster.
 */
public final class Endpoint {
  static {
    Access.setEndpointAccess(new Counting());
  }

  private final Cluster cluster;
  private final Backend backend;
  private final InetSocketAddress address;
  private final AtomicInteger active = new AtomicInteger();
  private final AtomicInteger consecutiveFailures = new AtomicInteger();
  private final LongAdder total = new LongAdder();
  private final LongAdder failures = new LongAdder();
  private final LongAdder bytesIn = new LongAdder();
  private final LongAdder bytesOut = new LongAdder();
  private final LongAdder healthTransitions = new LongAdder();
  private volatile boolean inService = true;

  /** Written under the cluster's update lock, as each snapshot is built. */
  private volatile EndpointState state;

  Endpoint(Cluster cluster, Backend backend) {
    this.cluster = cluster;
    this.backend = backend;
    this.state = EndpointState.initial(backend.weight());
    // Resolve once, here, on the caller's thread: a lookup per connection would pin virtual
    // threads.
    this.address = new InetSocketAddress(backend.host(), backend.port());
  }

  /** The backend this endpoint stands for. */
  public Backend backend() {
    return backend;
  }

  /** The cluster this endpoint belongs to (its {@link Cluster#tls()} says how to reach it). */
  public Cluster cluster() {
    return cluster;
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
   * start window (then scaled by 100 across the cluster, so fractions of a weight can be
   * expressed).
   */
  public int weight() {
    return state.weight();
  }

  /**
   * Whether the balancer may still pick this endpoint; false once it was removed from its cluster.
   */
  public boolean inService() {
    return inService;
  }

  /** Whether active health checks consider it healthy (always true without health checks). */
  public boolean healthy() {
    return state.healthy();
  }

  /** Whether outlier detection has ejected it for now. */
  public boolean ejected() {
    return state.ejected();
  }

  /** Records the start of a connection or request; pair with {@link #end()}. */
  void begin() {
    active.incrementAndGet();
    total.increment();
  }

  /** Records the end of a connection or request started with {@link #begin()}. */
  void end() {
    active.decrementAndGet();
  }

  /**
   * Records a success (a connect, or a response that is not a server error): resets the failure
   * streak.
   */
  void succeeded() {
    if (consecutiveFailures.get() != 0) {
      consecutiveFailures.set(0);
    }
  }

  /**
   * Records a connect failure or an upstream error; enough of them in a row eject the endpoint when
   * the cluster has {@link OutlierDetection}.
   */
  void failed() {
    failures.increment();
    int streak = consecutiveFailures.incrementAndGet();
    cluster.failureStreak(this, streak);
  }

  void resetFailureStreak() {
    consecutiveFailures.set(0);
  }

  /** Adds to the count of bytes received from the backend. */
  void bytesIn(long n) {
    bytesIn.add(n);
  }

  /** Adds to the count of bytes sent to the backend. */
  void bytesOut(long n) {
    bytesOut.add(n);
  }

  /** A snapshot of the counters and state. */
  public EndpointStats stats() {
    return stats(state, inService);
  }

  /** The counters now, with health, ejection and weight as {@code s} has them. */
  EndpointStats stats(EndpointState s, boolean inService) {
    return new EndpointStats(
        active.get(),
        total.sum(),
        failures.sum(),
        bytesIn.sum(),
        bytesOut.sum(),
        inService,
        s.healthy(),
        s.ejected(),
        s.ejections(),
        s.weight(),
        healthTransitions.sum());
  }

  /** Counts a flip between healthy and unhealthy. */
  void healthChanged() {
    healthTransitions.increment();
  }

  void state(EndpointState s) {
    this.state = s;
  }

  void retire() {
    inService = false;
  }

  @Override
  public String toString() {
    return backend.toString();
  }

  /** How {@link Lease} counts on an endpoint. */
  private static final class Counting implements Access.EndpointAccess {
    @Override
    public void begin(Endpoint e) {
      e.begin();
    }

    @Override
    public void end(Endpoint e) {
      e.end();
    }

    @Override
    public void succeeded(Endpoint e) {
      e.succeeded();
    }

    @Override
    public void failed(Endpoint e) {
      e.failed();
    }

    @Override
    public void bytesIn(Endpoint e, long n) {
      e.bytesIn(n);
    }

    @Override
    public void bytesOut(Endpoint e, long n) {
      e.bytesOut(n);
    }
  }
}
