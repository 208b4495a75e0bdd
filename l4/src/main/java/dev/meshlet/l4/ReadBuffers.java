package dev.meshlet.l4;

import java.nio.ByteBuffer;
import org.jspecify.annotations.Nullable;

/**
 * The read buffer of one direction of a connection, owned by its thread. It reads into a small heap
 * buffer first, so a parked, idle direction holds only that. A read that fills it means a burst: the
 * direction borrows a pooled direct buffer, and steps up a size each time a read fills that one too.
 * A read that does not fill the buffer means the socket was drained, so the next read may park: the
 * pooled buffer goes back at once. The size a burst reached is remembered for the next burst (a
 * stream that pauses between writes does not climb again), and forgotten once a read is small again.
 */
final class ReadBuffers {
  static final int SMALL = 512;

  private final BufferPool pool;
  private final ByteBuffer small = ByteBuffer.allocate(SMALL);
  private @Nullable ByteBuffer big;
  /** The tier to borrow when a burst starts. */
  private int tier;

  ReadBuffers(BufferPool pool) {
    this.pool = pool;
  }

  /** The buffer the next read goes into, cleared. */
  ByteBuffer current() {
    ByteBuffer b = big;
    return b != null ? b : small;
  }

  /** Picks the buffer for the next read from how much the last one read into {@link #current()}. */
  void afterRead(int n) {
    ByteBuffer b = big;
    if (b == null) {
      if (n == SMALL) {
        big = pool.take(tier); // null past the pool's limit: go on with the small buffer
      }
    } else if (n == b.capacity()) {
      if (tier + 1 < pool.tiers()) {
        ByteBuffer bigger = pool.take(tier + 1);
        if (bigger != null) {
          pool.give(b);
          big = bigger;
          tier++;
        }
      }
    } else {
      if (n <= pool.bufferSize()) {
        tier = 0; // the burst would have fit the smallest pooled buffer
      }
      pool.give(b);
      big = null;
    }
  }

  /** Gives any borrowed buffer back; the direction has ended. */
  void release() {
    ByteBuffer b = big;
    if (b != null) {
      big = null;
      pool.give(b);
    }
  }

  /** The size of the buffer the next read goes into (for tests). */
  int capacity() {
    return current().capacity();
  }
}
