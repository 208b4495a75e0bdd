package dev.meshlet.l4;

import dev.meshlet.core.internal.Lease;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.concurrent.atomic.LongAdder;
import org.jspecify.annotations.Nullable;

/**
 * One direction of a connection, client to backend or backend to client: it reads from its source
 * and writes to its destination on its own virtual thread, through the toxics in effect on it. It
 * owns its read buffers (a small heap buffer while idle, pooled direct buffers while a burst
 * lasts), its delay line (made when a latency toxic first holds a chunk), its byte count and its
 * toxics.
 */
final class Direction {
  static final ActiveToxic[] NONE = new ActiveToxic[0];

  private final Splice connection;
  private final SpliceContext context;

  /** Which toxics apply: those for {@link Toxic.Direction#UPSTREAM} go client to backend. */
  final Toxic.Direction side;

  /** The proxy's count of bytes this way. */
  private final LongAdder total;

  private final ReadBuffers buffers;

  /**
   * Both set before the direction's thread starts: the client side at accept, the backend side once
   * dialled.
   */
  private @Nullable Wire src;

  private @Nullable Wire dst;

  /** The connection's lease on its backend, which counts the bytes; set with the backend side. */
  private @Nullable Lease lease;

  /** Replaced (copy on write) under the {@link Toxics} lock; read once per chunk of data. */
  private volatile ActiveToxic[] toxics = NONE;

  /** Chunks held by a latency toxic; made by this direction's thread when first needed. */
  private volatile @Nullable DelayLine line;

  /**
   * Bytes forwarded; written by this direction's thread or its delay line's, never both at once.
   */
  private long bytes;

  private Direction(
      Splice connection,
      SpliceContext context,
      Toxic.Direction side,
      @Nullable Wire src,
      @Nullable Wire dst) {
    this.connection = connection;
    this.context = context;
    this.side = side;
    this.total =
        side == Toxic.Direction.UPSTREAM
            ? context.counters().bytesUpstream
            : context.counters().bytesDownstream;
    this.src = src;
    this.dst = dst;
    this.buffers = new ReadBuffers(context.pool(), this::waiting);
  }

  /** Client to backend: its source is the client. */
  static Direction toBackend(Splice connection, SpliceContext context, Wire client) {
    return new Direction(connection, context, Toxic.Direction.UPSTREAM, client, null);
  }

  /** Backend to client: its destination is the client. */
  static Direction toClient(Splice connection, SpliceContext context, Wire client) {
    return new Direction(connection, context, Toxic.Direction.DOWNSTREAM, null, client);
  }

  /** The backend is dialled: the other end of this direction. Called before its thread starts. */
  void dialled(Wire backend, @Nullable Lease lease) {
    if (side == Toxic.Direction.UPSTREAM) {
      dst = backend;
    } else {
      src = backend;
    }
    this.lease = lease;
  }

  /** The client's end now speaks TLS, its handshake done. Called before the thread starts. */
  void secured(Wire client) {
    if (side == Toxic.Direction.UPSTREAM) {
      src = client;
    } else {
      dst = client;
    }
  }

  /**
   * Copies bytes until the source ends (then half-closes the destination) or fails (then resets
   * both).
   */
  void pipe() {
    Wire src = this.src;
    Wire dst = this.dst;
    try {
      if (src == null || dst == null) {
        throw new IllegalStateException(
            "direction " + side + " piped before the backend was dialled");
      }
      while (true) {
        ByteBuffer buf = buffers.current();
        int n = src.read(buf);
        if (n < 0) {
          endOfStream(dst);
          break;
        }
        connection.activity++;
        buf.flip();
        ActiveToxic[] faults = toxics;
        int sent = n;
        // the fast path, unless toxics act or once held bytes a chunk might overtake (ToxicPath
        // decides)
        if (faults.length == 0 && line == null) {
          while (buf.hasRemaining()) {
            dst.write(buf);
          }
        } else {
          sent = ToxicPath.forward(this, faults, buf);
        }
        buf.clear();
        if (sent != 0) { // 0: queued, and the delay line's thread counts it (not both at once)
          account(sent);
        }
        buffers.afterRead(n, faults.length == 0);
      }
    } catch (Throwable e) { // an I/O error, a reset, or anything else: the connection is reset
      connection.failed(e);
    } finally {
      buffers.release();
      connection.directionEnded();
    }
  }

  private void endOfStream(Wire dst) throws IOException {
    DelayLine held = line;
    if (held != null) {
      held.drain(); // the end of stream follows the delayed data
    }
    ActiveToxic[] faults = toxics;
    if (faults.length != 0) {
      ToxicPath.beforeEndOfStream(faults);
    }
    if (connection.bothDirectionsOpen()) {
      dst.shutdownOutput(); // half-close: the other direction keeps flowing
    } // else the other direction ended already: closing both sends the FIN, one syscall less
  }

  /**
   * Tells the bytes waiting to be read on the source (one ioctl, FIONREAD); 0 if that cannot be
   * told. Asked only after a read filled its buffer.
   */
  private int waiting() {
    try {
      Wire s = src;
      return s != null ? s.available() : 0;
    } catch (IOException e) { // closed or shut down: nothing more to read for this burst
      return 0;
    }
  }

  /**
   * Counts bytes forwarded; called by this direction's thread or its delay line's, never both at
   * once.
   */
  void account(int sent) {
    bytes += sent;
    total.add(sent);
    Lease l = lease;
    if (l != null) {
      if (side == Toxic.Direction.UPSTREAM) {
        l.bytesOut(sent);
      } else {
        l.bytesIn(sent);
      }
    }
  }

  /** Bytes forwarded so far. */
  long bytes() {
    return bytes;
  }

  /** The destination (set once the backend is dialled). */
  Wire destination() {
    Wire d = dst;
    if (d == null) {
      throw new IllegalStateException("direction " + side + " has no destination yet");
    }
    return d;
  }

  /** The toxics in effect on this direction now. */
  ActiveToxic[] toxics() {
    return toxics;
  }

  /** The splice this direction belongs to (a toxic may end it). */
  Splice connection() {
    return connection;
  }

  /**
   * The delay line, made if {@code create}; null if there is none. Called by the direction's own
   * thread only. It holds up to 16 read buffers' worth of bytes (1 MiB by default).
   */
  @Nullable DelayLine delayLine(boolean create) {
    DelayLine held = line;
    Wire d = dst;
    if (held == null && create && d != null) {
      held = new DelayLine(this, context, 16 * context.pool().bufferSize());
      line = held;
      if (connection.isClosing()) { // the connection may have ended before the line was published
        held.close();
      }
    }
    return held;
  }

  /** The connection ended: drops what the delay line holds and wakes its threads. */
  void closeLine() {
    DelayLine held = line;
    if (held != null) {
      held.close();
    }
  }

  /** Adds a toxic drawn for this direction; under the {@link Toxics} lock. */
  void add(ActiveToxic a) {
    ActiveToxic[] list = toxics;
    ActiveToxic[] next = Arrays.copyOf(list, list.length + 1);
    next[list.length] = a;
    toxics = next;
  }

  /**
   * Removes the toxic {@code gone} installed; returns the one removed, or null. Under the {@link
   * Toxics} lock.
   */
  @Nullable ActiveToxic remove(Toxics.Installed gone) {
    ActiveToxic[] list = toxics;
    for (int k = 0; k < list.length; k++) {
      if (list[k].installed == gone) {
        ActiveToxic removed = list[k];
        ActiveToxic[] next = list.length == 1 ? NONE : new ActiveToxic[list.length - 1];
        System.arraycopy(list, 0, next, 0, k);
        System.arraycopy(list, k + 1, next, k, list.length - k - 1);
        toxics = next;
        return removed;
      }
    }
    return null;
  }

  /** Cancels the timers of this direction's toxics (the connection ended). */
  void cancelTimers() {
    for (ActiveToxic a : toxics) {
      a.cancelTimer();
    }
  }
}
