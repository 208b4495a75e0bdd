package dev.meshlet.l7;

import java.nio.ByteBuffer;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.eclipse.jetty.http2.HTTP2Connection;
import org.eclipse.jetty.io.Connection;
import org.eclipse.jetty.io.EndPoint;
import org.eclipse.jetty.io.ssl.SslConnection;
import org.eclipse.jetty.util.Callback;
import org.eclipse.jetty.util.thread.Scheduler;
import org.jspecify.annotations.Nullable;

/**
 * Bounds the time a client may take to send a whole request head (slowloris defence), and the time
 * a kept-alive connection may wait silent for its next request.
 *
 * <p>Jetty only has idle timeouts, which a client trickling one byte at a time never trips. Each
 * connection's clock starts when it opens and again whenever a response completes; the next request
 * head to arrive stops it. One sweeper task, run a few times per period, checks the clocks, so a
 * request costs two volatile writes rather than a timer. On a new connection the head deadline
 * counts from connecting: past it, a client that sent part of a head gets {@code 408} and the
 * connection is closed, one that sent nothing is closed (nginx's {@code client_header_timeout}). On
 * a kept-alive connection silence is the keep-alive timeout's (closed without an answer: no request
 * began), and the head deadline counts from the sweep that first sees a byte of the next head.
 */
final class HeadDeadline implements Connection.Listener, Runnable {
  private static final byte[] RESPONSE_408 = LocalAnswer.rawRequestTimeout();

  private static final int WAITING = 0;
  private static final int BUSY = 1;
  private static final int EXPIRED = 2;

  private final Scheduler scheduler;
  private final long headNanos;
  private final long keepAliveNanos;
  private final long sweepMillis;
  private final Counters total;
  private final ConcurrentHashMap<Connection, State> states = new ConcurrentHashMap<>();
  private volatile boolean running = true;
  private volatile Scheduler.@Nullable Task sweep;

  /** Either timeout may be 0 (none), not both. */
  HeadDeadline(Scheduler scheduler, long headMillis, long keepAliveMillis, Counters total) {
    this.scheduler = scheduler;
    this.headNanos = TimeUnit.MILLISECONDS.toNanos(headMillis);
    this.keepAliveNanos = TimeUnit.MILLISECONDS.toNanos(keepAliveMillis);
    long shortest =
        headMillis == 0
            ? keepAliveMillis
            : keepAliveMillis == 0 ? headMillis : Math.min(headMillis, keepAliveMillis);
    this.sweepMillis = Math.max(10, Math.min(250, shortest / 5));
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
    // streams come and go on an HTTP/2 connection: its idle timeout and stream limits bound it;
    // the TLS connection under the HTTP one never sees a head arrive or a response end, so its
    // clock would expire a busy connection (and write the 408 as plain bytes into the TLS
    // stream); a handshake that stalls leaves the HTTP connection above it silent instead
    if (connection instanceof HTTP2Connection || connection instanceof SslConnection) {
      return;
    }
    State s = new State(connection);
    s.arm(System.nanoTime());
    states.put(connection, s);
  }

  @Override
  public void onClosed(Connection connection) {
    states.remove(connection);
  }

  /**
   * A request head arrived on {@code connection}: returns false if its deadline already expired.
   */
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
        if (s.phase.get() == WAITING) {
          s.check(now);
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

    /** When a sweep first saw a byte of the next head on a kept-alive connection; 0 before. */
    volatile long headSeenAt;

    /**
     * Whether a response completed on this connection; until then silence counts against the head
     * deadline.
     */
    volatile boolean served;

    State(Connection connection) {
      this.connection = connection;
    }

    void arm(long now) {
      bytesAtArm = Math.max(0, connection.getBytesIn());
      headSeenAt = 0;
      armedAt = now;
    }

    void check(long now) {
      boolean silent = connection.getBytesIn() <= bytesAtArm;
      if (!served) {
        if (headNanos > 0 && now - armedAt >= headNanos) {
          expire(silent);
        }
      } else if (silent) {
        if (keepAliveNanos > 0
            && now - armedAt >= keepAliveNanos
            && phase.compareAndSet(WAITING, EXPIRED)) {
          connection
              .getEndPoint()
              .close(); // an idle keep-alive connection: no request began, no answer
        }
      } else if (headNanos > 0) {
        long seen = headSeenAt;
        if (seen == 0) {
          headSeenAt = now;
        } else if (now - seen >= headNanos) {
          expire(false);
        }
      }
    }

    private void expire(boolean silent) {
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
        endPoint.write(
            Callback.from(endPoint::close, x -> endPoint.close()), ByteBuffer.wrap(RESPONSE_408));
      } catch (RuntimeException writing) {
        // Jetty is writing an answer of its own on this connection (WritePendingException): close
        // instead
        endPoint.close();
      }
    }
  }
}
