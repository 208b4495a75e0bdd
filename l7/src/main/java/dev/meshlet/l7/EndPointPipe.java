package dev.meshlet.l7;

import dev.meshlet.l4.internal.Pipe;
import java.io.IOException;
import java.net.SocketTimeoutException;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.util.concurrent.TimeoutException;
import org.eclipse.jetty.io.EndPoint;
import org.eclipse.jetty.io.ssl.SslConnection;
import org.eclipse.jetty.util.Blocker;
import org.jspecify.annotations.Nullable;

/**
 * A Jetty {@link EndPoint} as the L4 splicer reads and writes it: each call blocks the direction's
 * virtual thread on the endpoint's own non-blocking callbacks ({@code fillInterested}, {@code
 * write}), after trying the non-blocking call first. Bytes Jetty read before the connection was
 * taken over come first. The endpoint keeps its idle timeout, which ends a pending read as a {@link
 * SocketTimeoutException}.
 */
final class EndPointPipe implements Pipe {
  private final EndPoint endPoint;

  /** One read and one write at a time, each on its direction's thread. */
  private final Blocker.Shared reads = new Blocker.Shared();

  private final Blocker.Shared writes = new Blocker.Shared();

  /** Read by HTTP before the switch; set before the splice starts, then read by its reader only. */
  private @Nullable ByteBuffer leftover;

  EndPointPipe(EndPoint endPoint) {
    this.endPoint = endPoint;
  }

  /** Keeps a copy of {@code prefilled} (Jetty's buffer, in flush mode), to be read first. */
  void leftover(ByteBuffer prefilled) {
    if (prefilled.hasRemaining()) {
      ByteBuffer copy = ByteBuffer.allocate(prefilled.remaining());
      copy.put(prefilled).flip();
      leftover = copy;
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
    while (true) {
      int n = fill(dst);
      if (n != 0) {
        return n;
      }
      try (Blocker.Callback readable = reads.callback()) {
        endPoint.fillInterested(readable);
        readable.block();
      } catch (IOException e) {
        throw timedOut(e);
      }
    }
  }

  /** Fills {@code dst} (NIO fill mode) through Jetty's flush-mode convention, without blocking. */
  private int fill(ByteBuffer dst) throws IOException {
    int start = dst.position();
    ByteBuffer view = dst.slice();
    view.limit(0); // empty, in Jetty's flush mode: fill appends from the view's start
    int n = endPoint.fill(view);
    if (n > 0) {
      dst.position(start + n);
    }
    return n;
  }

  @Override
  public void write(ByteBuffer src) throws IOException {
    if (endPoint.flush(src) && !src.hasRemaining()) {
      return; // the socket took it all: no callback to wait for
    }
    try (Blocker.Callback written = writes.callback()) {
      endPoint.write(written, src);
      written.block();
    } catch (IOException e) {
      throw timedOut(e);
    }
  }

  @Override
  public void shutdownOutput() {
    endPoint.shutdownOutput();
  }

  @Override
  public void close(boolean reset) {
    if (reset) {
      SocketChannel ch = channel(endPoint);
      if (ch != null) {
        try {
          ch.setOption(StandardSocketOptions.SO_LINGER, 0); // close() then sends RST
        } catch (IOException | RuntimeException closed) {
          // closed already: nothing to reset
        }
      }
    }
    endPoint.close();
  }

  /** The socket under {@code e} (below TLS, if any), or null when there is none. */
  private static @Nullable SocketChannel channel(EndPoint e) {
    EndPoint at = e;
    while (at instanceof SslConnection.SslEndPoint ssl) {
      at = ssl.getSslConnection().getEndPoint();
    }
    return at.getTransport() instanceof SocketChannel ch ? ch : null;
  }

  /** An idle timeout as {@link SocketTimeoutException}, which the splicer ends without a reset. */
  private static IOException timedOut(IOException e) {
    for (Throwable t = e; t != null; t = t.getCause()) {
      if (t instanceof TimeoutException) {
        SocketTimeoutException idle = new SocketTimeoutException("idle timeout: " + t.getMessage());
        idle.initCause(e);
        return idle;
      }
    }
    return e;
  }

  @Override
  public String toString() {
    return "pipe " + endPoint;
  }
}
