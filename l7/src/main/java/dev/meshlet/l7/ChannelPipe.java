package dev.meshlet.l7;

import dev.meshlet.l4.internal.Pipe;
import java.io.IOException;
import java.net.SocketTimeoutException;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.eclipse.jetty.io.EndPoint;
import org.eclipse.jetty.util.thread.Scheduler;
import org.jspecify.annotations.Nullable;

/**
 * A plain upgraded connection's socket, taken out of Jetty's selector ({@link ChannelTakeover}) and
 * read and written in blocking mode by the splicer's virtual threads, as an L4 connection's socket
 * is: a read that finds nothing waiting parks in the JDK's poller instead of a round trip through
 * Jetty's selector thread. Bytes Jetty read before the switch come first. The endpoint's idle
 * timeout (no byte read or written for that long) is kept with a timer of its own, as Jetty stops
 * timing the endpoint; it ends the tunnel as a {@link SocketTimeoutException}.
 */
final class ChannelPipe implements Pipe {
  private final EndPoint endPoint;
  private final SocketChannel channel;
  private final Scheduler scheduler;
  private final long idleNanos;
  private final AtomicBoolean closed = new AtomicBoolean();

  /** Read by HTTP before the switch; read by the reader only. */
  private @Nullable ByteBuffer leftover;

  private volatile long lastActive = System.nanoTime();
  private volatile boolean writing;
  private volatile boolean timedOut;
  private volatile Scheduler.@Nullable Task idleTask;

  /**
   * {@code channel} (in blocking mode, out of any selector) of {@code endPoint}, which is closed
   * with it for Jetty's own bookkeeping; {@code idleTimeoutMillis} &lt;= 0 for none.
   */
  ChannelPipe(
      EndPoint endPoint,
      SocketChannel channel,
      @Nullable ByteBuffer leftover,
      Scheduler scheduler,
      long idleTimeoutMillis) {
    this.endPoint = endPoint;
    this.channel = channel;
    this.leftover = leftover;
    this.scheduler = scheduler;
    this.idleNanos = TimeUnit.MILLISECONDS.toNanos(Math.max(0, idleTimeoutMillis));
    if (idleNanos > 0) {
      idleTask = scheduler.schedule(this::checkIdle, idleNanos, TimeUnit.NANOSECONDS);
    }
  }

  @Override
  public int read(ByteBuffer dst) throws IOException {
    ByteBuffer early = leftover;
    if (early != null) {
      int n = Math.min(early.remaining(), dst.remaining());
      dst.put(dst.position(), early, early.position(), n);
      dst.position(dst.position() + n);
      early.position(early.position() + n);
      if (!early.hasRemaining()) {
        leftover = null;
      }
      return n;
    }
    int n;
    try {
      n = channel.read(dst);
    } catch (IOException e) {
      throw timedOut ? idle(e) : e;
    }
    if (n > 0) {
      lastActive = System.nanoTime();
    } else if (timedOut) { // the timer shut the input to wake this read
      throw idle(null);
    }
    return n;
  }

  @Override
  public void write(ByteBuffer src) throws IOException {
    writing = true;
    try {
      while (src.hasRemaining()) {
        if (channel.write(src) > 0) {
          lastActive = System.nanoTime();
        }
      }
    } catch (IOException e) {
      throw timedOut ? idle(e) : e;
    } finally {
      writing = false;
    }
  }

  @Override
  public void shutdownOutput() throws IOException {
    channel.shutdownOutput();
  }

  @Override
  public void close(boolean reset) {
    if (!closed.compareAndSet(false, true)) {
      return;
    }
    Scheduler.Task t = idleTask;
    if (t != null) {
      t.cancel();
    }
    if (reset) {
      try {
        channel.setOption(StandardSocketOptions.SO_LINGER, 0); // close() then sends RST
      } catch (IOException | RuntimeException gone) {
        // closed already: nothing to reset
      }
    }
    try {
      channel.close();
    } catch (IOException ignored) {
      // the descriptor is released all the same
    }
    endPoint.close(); // the channel is closed already: Jetty only forgets the endpoint
  }

  /** The idle timer: ends the tunnel if no byte moved for the idle timeout, else looks again. */
  private void checkIdle() {
    if (closed.get()) {
      return;
    }
    long idleFor = System.nanoTime() - lastActive;
    if (idleFor < idleNanos) {
      idleTask = scheduler.schedule(this::checkIdle, idleNanos - idleFor, TimeUnit.NANOSECONDS);
      return;
    }
    timedOut = true;
    try {
      channel.shutdownInput(); // wakes a parked read, which then reports the timeout
      if (writing) { // a write stuck on a peer that reads nothing: only a close wakes it
        channel.close();
      }
    } catch (IOException ignored) {
      // closed already: the tunnel is ending
    }
  }

  private SocketTimeoutException idle(@Nullable IOException cause) {
    SocketTimeoutException e =
        new SocketTimeoutException(
            "idle timeout: nothing read or written for "
                + TimeUnit.NANOSECONDS.toMillis(idleNanos)
                + " ms");
    if (cause != null) {
      e.initCause(cause);
    }
    return e;
  }

  @Override
  public String toString() {
    return "channel pipe " + endPoint;
  }
}
