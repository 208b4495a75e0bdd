package dev.meshlet.core.internal;

import dev.meshlet.core.Cluster;
import dev.meshlet.core.Endpoint;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.Objects;
import org.jspecify.annotations.Nullable;

/**
 * One connection or request to one endpoint, counted in flight from {@link #begin} to {@link
 * #close()}. Its outcome, {@link #succeeded()} or {@link #failed()} (which feeds outlier
 * detection), is reported at most once: later reports are ignored. Closing twice ends it once. All
 * methods are thread-safe.
 *
 * <pre>{@code
 * try (Lease lease = Lease.pick(cluster, key)) {
 *   if (lease == null) { ... no backend ... }
 *   connect(lease.endpoint().address());
 *   lease.succeeded();
 *   ...
 *   lease.bytesOut(n);
 * }
 * }</pre>
 */
public final class Lease implements AutoCloseable {
  private static final int CLOSED = 1;
  private static final int REPORTED = 2;
  private static final VarHandle STATE;

  static {
    try {
      STATE = MethodHandles.lookup().findVarHandle(Lease.class, "state", int.class);
    } catch (ReflectiveOperationException e) {
      throw new ExceptionInInitializerError(e);
    }
  }

  private final Endpoint endpoint;
  private final Access.EndpointAccess access;
  private volatile int state;

  private Lease(Endpoint endpoint, Access.EndpointAccess access) {
    this.endpoint = endpoint;
    this.access = access;
  }

  /** Begins a connection or request on {@code endpoint}. */
  public static Lease begin(Endpoint endpoint) {
    Objects.requireNonNull(endpoint, "endpoint");
    Access.EndpointAccess a = Access.endpoints();
    a.begin(endpoint);
    return new Lease(endpoint, a);
  }

  /**
   * Picks an endpoint of {@code cluster} ({@link Cluster#pick(long)}) and begins on it; null when
   * none.
   */
  public static @Nullable Lease pick(Cluster cluster, long key) {
    Endpoint e = cluster.pick(key);
    return e == null ? null : begin(e);
  }

  /**
   * Picks an endpoint for a retry ({@link Cluster#pick(long, int, Endpoint)}), preferring one other
   * than {@code previous}, and begins on it; null when none.
   */
  public static @Nullable Lease pick(
      Cluster cluster, long key, int attempt, @Nullable Endpoint previous) {
    Endpoint e = cluster.pick(key, attempt, previous);
    return e == null ? null : begin(e);
  }

  /** The endpoint this lease is on. */
  public Endpoint endpoint() {
    return endpoint;
  }

  /**
   * Reports a success (a connect, a response that is not a server error) unless an outcome was
   * reported.
   */
  public void succeeded() {
    if ((report() & REPORTED) == 0) {
      access.succeeded(endpoint);
    }
  }

  /** Reports a failure (connect failure, upstream error) unless an outcome was reported. */
  public void failed() {
    if ((report() & REPORTED) == 0) {
      access.failed(endpoint);
    }
  }

  private int report() {
    return (int) STATE.getAndBitwiseOr(this, REPORTED);
  }

  /** Whether an outcome was reported. */
  public boolean reported() {
    return (state & REPORTED) != 0;
  }

  /** Adds to the bytes received from the backend. */
  public void bytesIn(long n) {
    access.bytesIn(endpoint, n);
  }

  /** Adds to the bytes sent to the backend. */
  public void bytesOut(long n) {
    access.bytesOut(endpoint, n);
  }

  /** Whether {@link #close()} ran. */
  public boolean closed() {
    return (state & CLOSED) != 0;
  }

  /** Ends the connection or request on the endpoint; a second call does nothing. */
  @Override
  public void close() {
    if (((int) STATE.getAndBitwiseOr(this, CLOSED) & CLOSED) == 0) {
      access.end(endpoint);
    }
  }

  @Override
  public String toString() {
    return "Lease[" + endpoint + (closed() ? ", closed" : "") + "]";
  }
}
