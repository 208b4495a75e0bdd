package dev.meshlet.l7;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
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
 * connection gets a timer, armed when it opens and again whenever a response completes; the first
 * request head to arrive disarms it. If it fires while part of a head has arrived, the client gets
 * {@code 408} and the connection is closed; an idle keep-alive connection is left to the idle timeout.
 */
final class HeadDeadline implements Connection.Listener {
  private static final byte[] RESPONSE_408 =
      ("HTTP/1.1 408 Request Timeout\r\nContent-Type: text/plain; charset=utf-8\r\n"
              + "Content-Length: 20\r\nConnection: close\r\n\r\n408 Request Timeout\n")
          .getBytes(StandardCharsets.ISO_8859_1);

  private static final int WAITING = 0;
  private static final int BUSY = 1;
  private static final int EXPIRED = 2;

  private final Scheduler scheduler;
  private final long timeoutMillis;
  private final Counters total;
  private final ConcurrentHashMap<Connection, State> states = new ConcurrentHashMap<>();

  HeadDeadline(Scheduler scheduler, long timeoutMillis, Counters total) {
    this.scheduler = scheduler;
    this.timeoutMillis = timeoutMillis;
    this.total = total;
  }

  @Override
  public void onOpened(Connection connection) {
    State s = new State(connection);
    states.put(connection, s);
    s.arm();
  }

  @Override
  public void onClosed(Connection connection) {
    State s = states.remove(connection);
    if (s != null) {
      s.cancel();
    }
  }

  /** A request head arrived on {@code connection}: returns false if the deadline already expired. */
  boolean headArrived(Connection connection) {
    State s = states.get(connection);
    return s == null || s.headArrived();
  }

  /** The response on {@code connection} completed: the next head gets a fresh deadline. */
  void responseDone(Connection connection) {
    State s = states.get(connection);
    if (s != null) {
      s.rearm();
    }
  }

  private final class State implements Runnable {
    private final Connection connection;
    private final AtomicInteger phase = new AtomicInteger(WAITING);
    private volatile long bytesAtArm;
    private volatile Scheduler.@Nullable Task task;

    State(Connection connection) {
      this.connection = connection;
    }

    void arm() {
      bytesAtArm = Math.max(0, connection.getBytesIn());
      task = scheduler.schedule(this, timeoutMillis, TimeUnit.MILLISECONDS);
    }

    boolean headArrived() {
      cancel();
      if (phase.compareAndSet(WAITING, BUSY)) {
        return true;
      }
      return phase.get() == BUSY; // pipelined request on a busy connection: leave it be
    }

    void rearm() {
      if (phase.compareAndSet(BUSY, WAITING)) {
        arm();
      }
    }

    void cancel() {
      Scheduler.Task t = task;
      if (t != null) {
        t.cancel();
      }
    }

    @Override
    public void run() {
      if (phase.get() != WAITING) {
        return;
      }
      if (connection.getBytesIn() <= bytesAtArm) {
        arm(); // idle keep-alive connection: the idle timeout governs it, keep watching for a slow head
        return;
      }
      if (!phase.compareAndSet(WAITING, EXPIRED)) {
        return;
      }
      total.rejected(408);
      total.error(HttpProxyStats.ErrorKind.REQUEST_TIMEOUT);
      EndPoint endPoint = connection.getEndPoint();
      endPoint.write(Callback.from(endPoint::close, x -> endPoint.close()), ByteBuffer.wrap(RESPONSE_408));
    }
  }
}
