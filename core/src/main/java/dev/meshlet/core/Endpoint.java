package dev.meshlet.core;

import java.net.InetSocketAddress;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;

/**
 * The live side of a {@link Backend} inside a {@link Cluster}: its address, resolved once, and its
 * counters.
 *
 * <p>Proxies call {@link #begin()} when a connection or request to the backend starts and
 * {@link #end()} when it ends; balancers read {@link #active()}. All methods are thread-safe and
 * allocation-free.
 */
public final class Endpoint {
  private final Backend backend;
  private final InetSocketAddress address;
  private final AtomicInteger active = new AtomicInteger();
  private final LongAdder total = new LongAdder();
  private final LongAdder failures = new LongAdder();
  private final LongAdder bytesIn = new LongAdder();
  private final LongAdder bytesOut = new LongAdder();
  private volatile boolean inService = true;

  Endpoint(Backend backend) {
    this.backend = backend;
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

  /** Whether the balancer may still pick this endpoint; false once it was removed from its cluster. */
  public boolean inService() {
    return inService;
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

  /** Records a connect failure or an upstream error. */
  public void failed() {
    failures.increment();
  }

  /** Adds to the count of bytes received from the backend. */
  public void bytesIn(long n) {
    bytesIn.add(n);
  }

  /** Adds to the count of bytes sent to the backend. */
  public void bytesOut(long n) {
    bytesOut.add(n);
  }

  /** A snapshot of the counters. */
  public EndpointStats stats() {
    return new EndpointStats(
        active.get(), total.sum(), failures.sum(), bytesIn.sum(), bytesOut.sum(), inService);
  }

  void retire() {
    inService = false;
  }

  @Override
  public String toString() {
    return backend.toString();
  }
}
