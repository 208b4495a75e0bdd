package dev.meshlet.l4;

import java.nio.ByteBuffer;
import java.util.function.IntSupplier;
import org.jspecify.annotations.Nullable;

/**
 * The read buffer of one direction of a connection, owned by its thread. It reads into a small heap
 * buffer first, so a parked, idle direction holds only that. A read that fills the buffer while
 * more bytes wait in the socket means a burst: the direction borrows a pooled direct buffer, and
 * steps up a size each time a read fills that one too (larger reads, fewer system calls). When a
 * read does not fill the buffer, or fills it but leaves nothing waiting, the next read may park:
 * the pooled buffer goes back at once. The size a burst reached is remembered for the next burst (a
 * stream that pauses between writes does not climb again), and forgotten once a read is small
 * again.
 */
final class ReadBuffers {
  static final int SMALL = 512;

  private final BufferPool pool;

  /** Bytes waiting in the socket now (FIONREAD); asked only after a read filled its buffer. */
  private final IntSupplier waiting;

  private final ByteBuffer small = ByteBuffer.allocate(SMALL);
  private @Nullable ByteBuffer big;

  /** The tier to borrow when a burst starts. */
  private int tier;

  ReadBuffers(BufferPool pool, IntSupplier waiting) {
    this.pool = pool;
    this.waiting = waiting;
  }

  /** The buffer the next read goes into, cleared. */
  ByteBuffer current() {
    ByteBuffer b = big;
    return b != null ? b : small;
  }

  /**
   * Picks the buffer for the next read from how much the last one read into {@link #current()};
   * {@code grow} false keeps a burst at the smallest pooled size (toxics pace or copy what is
   * read).
   */
  void afterRead(int n, boolean grow) {
    ByteBuffer b = big;
    int top = pool.topTier();
    if (n < (b != null ? b.capacity() : SMALL) || top < 0) {
      drained(n); // the socket is drained (or the pool never lends: no need to ask)
      return;
    }
    int waiting = this.waiting.getAsInt();
    if (waiting <= 0) {
      drained(n);
      return;
    }
    if (!grow) {
      tier = 0;
    }
    if (b == null) {
      if (waiting > SMALL) { // less than that: the small buffer takes it in one more read
        borrow(Math.min(tier, top));
      }
    } else if (grow && tier < top) {
      big = null;
      pool.give(b); // first, so that the larger one may use what it frees under the limit
      borrow(tier + 1);
    }
  }

  /**
   * Takes a buffer of {@code want}, or the largest smaller size the pool can lend; reports a
   * shortfall once.
   */
  private void borrow(int want) {
    for (int t = want; t >= 0 && big == null; t--) {
      big = pool.take(t);
      if (big != null) {
        tier = t;
      }
    }
    if (big == null || tier < want) {
      pool.refused();
    }
  }

  /** The socket is drained, so the next read may park: any borrowed buffer goes back. */
  private void drained(int n) {
    if (n <= pool.bufferSize()) {
      tier = 0; // this burst would have fit the smallest pooled buffer
    }
    release();
  }

  /** Gives any borrowed buffer back (also when the direction has ended). */
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
