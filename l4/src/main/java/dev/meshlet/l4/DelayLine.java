package dev.meshlet.l4;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.ByteBuffer;
import java.util.ArrayDeque;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * A direction's chunks held for a latency toxic, as in Toxiproxy: each chunk is stamped when read
 * and forwarded at {@code read time + latency} by a virtual thread of its own, while the
 * direction's thread goes on reading. A stream is delayed, not slowed, up to {@code capacity} bytes
 * in flight; beyond that the reader waits (backpressure, as a full socket buffer would make it).
 * Chunks leave in the order they came, so once the line holds any, later chunks queue behind them
 * even after the toxic is removed. The writer applies the other toxics (bandwidth, slicer, limit…)
 * when it sends.
 */
final class DelayLine {
  private record Chunk(byte[] data, long dueNanos) {}

  /** What a queued chunk costs beyond its bytes (the record, the array header, the queue slot). */
  private static final int CHUNK_OVERHEAD = 64;

  private final Direction direction;
  private final SpliceContext context;
  private final int capacity;
  private final ReentrantLock lock = new ReentrantLock();
  private final Condition changed = lock.newCondition();
  private final ArrayDeque<Chunk> queue = new ArrayDeque<>();
  private int queuedBytes;

  /** A writer thread is running; it ends when the queue is empty. */
  private boolean writing;

  private boolean closed;

  DelayLine(Direction direction, SpliceContext context, int capacity) {
    this.direction = direction;
    this.context = context;
    this.capacity = capacity;
  }

  /** Whether chunks are waiting or being sent: a later chunk must then queue behind them. */
  boolean busy() {
    lock.lock();
    try {
      return writing || !queue.isEmpty();
    } finally {
      lock.unlock();
    }
  }

  /**
   * Queues a copy of what {@code buf} holds, to be sent at {@code dueNanos}; waits while the line
   * holds {@code capacity} bytes. Returns quietly if the connection ended meanwhile.
   */
  void offer(ByteBuffer buf, long dueNanos) throws IOException {
    byte[] copy = new byte[buf.remaining()];
    buf.get(copy);
    lock.lock();
    try {
      int cost =
          copy.length + CHUNK_OVERHEAD; // many tiny chunks are bounded too, not only their payload
      while (!closed && queuedBytes > 0 && queuedBytes + cost > capacity) {
        changed.await();
      }
      if (closed) {
        return;
      }
      queue.add(new Chunk(copy, dueNanos));
      queuedBytes += cost;
      changed.signalAll();
      if (!writing) {
        writing = true;
        try {
          context.execute(this::writeLoop);
        } catch (
            RejectedExecutionException e) { // the proxy is closing: the connection goes with it
          writing = false;
          closed = true;
          queue.clear();
        }
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new InterruptedIOException("interrupted while the delay line was full");
    } finally {
      lock.unlock();
    }
  }

  /**
   * Waits until every queued chunk has been sent (before the end of stream is passed on), or the
   * line closed.
   */
  void drain() throws IOException {
    lock.lock();
    try {
      while (!closed && (writing || !queue.isEmpty())) {
        changed.await();
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new InterruptedIOException("interrupted while the delay line drained");
    } finally {
      lock.unlock();
    }
  }

  /** The connection ended: drops what is queued and wakes the reader and the writer. */
  void close() {
    lock.lock();
    try {
      closed = true;
      queue.clear();
      queuedBytes = 0;
      changed.signalAll();
    } finally {
      lock.unlock();
    }
  }

  private void writeLoop() {
    try {
      while (true) {
        Chunk next;
        lock.lock();
        try {
          long wait;
          while (!closed
              && (next = queue.peek()) != null
              && (wait = next.dueNanos - System.nanoTime()) > 0) {
            changed.awaitNanos(wait); // close() wakes it; a new chunk never comes due earlier
          }
          next = queue.peek();
          if (closed || next == null) {
            writing = false;
            changed.signalAll();
            return;
          }
        } finally {
          lock.unlock();
        }
        ByteBuffer buf = ByteBuffer.wrap(next.data);
        int sent = ToxicPath.pass(direction, direction.toxics(), buf);
        direction.account(sent);
        lock.lock();
        try {
          queue.poll();
          queuedBytes -= next.data.length + CHUNK_OVERHEAD;
          changed.signalAll();
        } finally {
          lock.unlock();
        }
      }
    } catch (Throwable e) { // an I/O error or anything else: the connection is reset
      close();
      // as a failed write on the direction's own thread: the splice is reset
      direction.connection().failed(e);
    }
  }
}
