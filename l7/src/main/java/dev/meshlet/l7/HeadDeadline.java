package dev.meshlet.l7;

import java.nio.ByteBuffer;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.eclipse.jetty.io.Connection;
import org.eclipse.jetty.io.EndPoint;
import org.eclipse.jetty.util.Callback;
import org.eclipse.jetty.util.thread.Scheduler;
import org.jspecify.annotations.Nullable;

/**
 * Bounds the time a client may take to send a whole request head (slowloris defence).
 *
 * <p>Jetty only has idle timeouts, which a client trickling one byte at a time never trips. Each
 * connection's deadline starts when it opens and again whenever a response completes; the next
 * request head to arrive stops it. One sweeper task, run a few times per timeout period, checks the
 * deadlines, so a request costs two volatile writes rather than a timer. When a deadline passed and
 * part of a head has arrived, the client gets {@code 408} and the connection is closed; an idle
 * keep-alive connection (no byte since the deadline started) is left to the idle timeout and watched
 * again from then on; a new connection that sent nothing at all by its deadline is closed.
 */
final class HeadDeadline implements Connection.Listener, Runnable {
  private static final byte[] RESPONSE_408 = LocalAnswer.rawRequestTimeout();

  private static final int WAITING = 0;
  private static final int BUSY = 1;
  private static final int EXPIRED = 2;

  private final Scheduler scheduler;
  private final long timeoutNanos;
  private final long sweepMillis;
  private final Counters total;
  private final ConcurrentHashMap<Connection, State> states = new ConcurrentHashMap<>();
  private volatile boolean running = true;
  private volatile Scheduler.@Nullable Task sweep;

  HeadDeadline(Scheduler scheduler, long timeoutMillis, Counters total) {
    this.scheduler = scheduler;
    this.timeoutNanos = TimeUnit.MILLISECONDS.toNanos(timeoutMillis);
    this.sweepMillis = Math.max(10, Math.min(250, timeoutMillis / 5));
    this.total = total;
  }

  /** Starts sweeping; the scheduler must be started. */
  void start() {
    sweep = scheduler.schedule(this, sweepMillis, TimeUnit.MILLISECONDS);
  }

  /** Stops sweeping. */
  void stop() {
    running = false;
    Scheduler.Task t = sweep;
    if (t != null) {
      t.cancel();
    }
  }

  @Override
  public void onOpened(Connection connection) {
    State s = new State(connection);
    s.arm(System.nanoTime());
    states.put(connection, s);
  }

  @Override
  public void onClosed(Connection connection) {
    states.remove(connection);
  }

  /** A request head arrived on {@code connection}: returns false if its deadline already expired. */
  boolean headArrived(Connection connection) {
    State s = states.get(connection);
    if (s == null || s.phase.compareAndSet(WAITING, BUSY)) {
      return true;
    }
    return s.phase.get() == BUSY; // a pipelined request on a busy connection: leave it be
  }

  /** The response on {@code connection} completed: the next head gets a fresh deadline. */
  void responseDone(Connection connection) {
    State s = states.get(connection);
    if (s != null) {
      s.served = true;
      s.arm(System.nanoTime());
      s.phase.compareAndSet(BUSY, WAITING);
    }
  }

  @Override
  public void run() {
    long now = System.nanoTime();
    try {
      for (State s : states.values()) {
        if (s.phase.get() == WAITING && now - s.armedAt >= timeoutNanos) {
          s.expire(now);
        }
      }
    } finally {
      if (running) {
        sweep = scheduler.schedule(this, sweepMillis, TimeUnit.MILLISECONDS);
      }
    }
  }

  private final class State {
    final Connection connection;
    final AtomicInteger phase = new AtomicInteger(WAITING);
    volatile long armedAt;
    volatile long bytesAtArm;
    /** Whether a response completed on this connection; until then silence counts against the deadline. */
    volatile boolean served;

    State(Connection connection) {
      this.connection = connection;
    }

    void arm(long now) {
      bytesAtArm = Math.max(0, connection.getBytesIn());
      armedAt = now;
    }

    void expire(long now) {
      boolean silent = connection.getBytesIn() <= bytesAtArm;
      if (silent && served) {
        armedAt = now; // idle keep-alive: the idle timeout governs it; watch for a slow head from now
        return;
      }
      if (!phase.compareAndSet(WAITING, EXPIRED)) {
        return;
      }
      total.error(HttpProxyStats.ErrorKind.REQUEST_TIMEOUT);
      EndPoint endPoint = connection.getEndPoint();
      if (silent) {
        endPoint.close(); // a new connection that never sent a byte (nginx's client_header_timeout)
        return;
      }
      total.rejected(408);
      try {
        endPoint.write(Callback.from(endPoint::close, x -> endPoint.close()), ByteBuffer.wrap(RESPONSE_408));
      } catch (RuntimeException writing) {
        // Jetty is writing an answer of its own on this connection (WritePendingException): close instead
        endPoint.close();
      }
    }
  }
}
