package dev.meshlet.l4;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.ByteBuffer;
import java.util.function.IntFunction;
import org.junit.jupiter.api.Test;

/**
 * The read-buffer policy of one direction, step by step (no sockets: the pool and the bytes said to
 * wait decide).
 */
class ReadBuffersTest {
  private static final int K = 1024;

  /** Bytes the socket is said to hold after each read (a burst: plenty). */
  private int waiting = 1 << 20;

  private int asked;

  private ReadBuffers buffers(BufferPool pool) {
    return new ReadBuffers(
        pool,
        () -> {
          asked++;
          return waiting;
        });
  }

  @Test
  void aBurstClimbsWhileReadsFillTheBufferAndGivesItBackWhenOneDoesNot() {
    BufferPool pool = new BufferPool(K, 16 * K, 4, Long.MAX_VALUE, "test");
    assertThat(pool.tiers()).isEqualTo(3); // 1 KiB, 4 KiB, 16 KiB
    ReadBuffers r = buffers(pool);
    assertThat(r.capacity()).isEqualTo(ReadBuffers.SMALL);
    r.afterRead(100, true); // a small message: nothing borrowed
    assertThat(r.capacity()).isEqualTo(ReadBuffers.SMALL);
    assertThat(pool.lent()).isZero();
    r.afterRead(
        ReadBuffers.SMALL,
        true); // filled, and more waits: a burst starts with the smallest pooled buffer
    assertThat(r.capacity()).isEqualTo(K);
    r.afterRead(K, true);
    assertThat(r.capacity()).isEqualTo(4 * K);
    r.afterRead(4 * K, true);
    assertThat(r.capacity()).isEqualTo(16 * K);
    r.afterRead(16 * K, true); // the top: stays
    assertThat(r.capacity()).isEqualTo(16 * K);
    assertThat(pool.lent()).isEqualTo(16 * K);
    assertThat(pool.largestLent()).isEqualTo(16 * K);
    r.afterRead(5 * K, true); // drained the socket: the next read may park, so the buffer goes back
    assertThat(r.capacity()).isEqualTo(ReadBuffers.SMALL);
    assertThat(pool.lent()).isZero();
    r.afterRead(
        ReadBuffers.SMALL, true); // the stream goes on: straight back to the size it had reached
    assertThat(r.capacity()).isEqualTo(16 * K);
    r.afterRead(
        600, true); // a read the smallest pooled buffer holds: the next burst starts small again
    assertThat(r.capacity()).isEqualTo(ReadBuffers.SMALL);
    r.afterRead(ReadBuffers.SMALL, true);
    assertThat(r.capacity()).isEqualTo(K);
    r.release();
    assertThat(pool.lent()).isZero();
    assertThat(pool.limitHits()).isZero();
  }

  @Test
  void aReadThatFillsTheBufferButLeavesNothingWaitingKeepsNothing() {
    BufferPool pool = new BufferPool(K, 16 * K, 4, Long.MAX_VALUE, "test");
    ReadBuffers r = buffers(pool);
    waiting = 0;
    r.afterRead(
        ReadBuffers.SMALL,
        true); // a message of exactly 512 bytes: the next read parks on the small buffer
    assertThat(r.capacity()).isEqualTo(ReadBuffers.SMALL);
    assertThat(pool.lent()).isZero();
    waiting = 300; // a message of 812 bytes: one more read of the small buffer takes the rest
    r.afterRead(ReadBuffers.SMALL, true);
    assertThat(r.capacity()).isEqualTo(ReadBuffers.SMALL);
    assertThat(pool.lent()).isZero();
    waiting = 1 << 20;
    r.afterRead(ReadBuffers.SMALL, true);
    r.afterRead(K, true);
    assertThat(r.capacity()).isEqualTo(4 * K);
    waiting = 0;
    r.afterRead(
        4 * K, true); // a burst that ends exactly on the buffer's size: given back, not parked on
    assertThat(r.capacity()).isEqualTo(ReadBuffers.SMALL);
    assertThat(pool.lent()).isZero();
  }

  @Test
  void smallReadsForgetTheSizeAndToxicsKeepBurstsAtTheSmallestSize() {
    BufferPool pool = new BufferPool(K, 16 * K, 4, Long.MAX_VALUE, "test");
    ReadBuffers r = buffers(pool);
    r.afterRead(ReadBuffers.SMALL, true);
    r.afterRead(K, true);
    r.afterRead(2 * K, true); // drained after climbing to 4 KiB: remembered
    r.afterRead(100, true); // a small message: forgotten
    r.afterRead(ReadBuffers.SMALL, true);
    assertThat(r.capacity()).isEqualTo(K);
    r.afterRead(K, false); // a toxic paces or copies this direction: no climbing
    r.afterRead(K, false);
    assertThat(r.capacity()).isEqualTo(K);
    r.release();
  }

  @Test
  void pastTheLimitADirectionKeepsWhatItHasOrTakesASmallerSize() {
    BufferPool pool = new BufferPool(K, 16 * K, 4, 5 * K, "test");
    ReadBuffers a = buffers(pool);
    a.afterRead(ReadBuffers.SMALL, true);
    a.afterRead(K, true);
    a.afterRead(
        4 * K,
        true); // 16 KiB is more than the 5 KiB limit itself: a keeps its 4 KiB (a setting, not a
    // hit)
    assertThat(a.capacity()).isEqualTo(4 * K);
    assertThat(pool.limitHits()).isZero();
    a.afterRead(2 * K, true); // drained: back to small, 4 KiB remembered
    ReadBuffers b = buffers(pool);
    b.afterRead(ReadBuffers.SMALL, true);
    b.afterRead(K, true); // b climbs to 4 KiB: 4 of the 5 KiB lent
    assertThat(b.capacity()).isEqualTo(4 * K);
    a.afterRead(
        ReadBuffers.SMALL, true); // a wants its 4 KiB again; only 1 KiB fits, and it takes that
    assertThat(a.capacity()).isEqualTo(K);
    assertThat(pool.limitHits()).isEqualTo(1);
    ReadBuffers c = buffers(pool);
    c.afterRead(ReadBuffers.SMALL, true); // nothing fits: c reads through its small buffer
    assertThat(c.capacity()).isEqualTo(ReadBuffers.SMALL);
    assertThat(pool.limitHits()).isEqualTo(2);
    assertThat(pool.lent()).isEqualTo(5 * K);
    b.afterRead(2 * K, true); // b's burst ends: its 4 KiB goes back
    c.afterRead(ReadBuffers.SMALL, true);
    assertThat(c.capacity()).isEqualTo(K);
    a.release();
    c.release();
    assertThat(pool.lent()).isZero();
  }

  @Test
  void aLimitBelowTheSmallestSizeMeansNeverBorrowAndIsNoHit() {
    BufferPool pool = new BufferPool(K, 16 * K, 4, 0, "test");
    ReadBuffers r = buffers(pool);
    r.afterRead(ReadBuffers.SMALL, true);
    assertThat(r.capacity()).isEqualTo(ReadBuffers.SMALL);
    assertThat(pool.limitHits()).isZero();
    assertThat(asked).as("no ioctl when nothing can be lent").isZero();
  }

  @Test
  void aLimitOfOneLargestBufferLetsOneStreamReachIt() {
    BufferPool pool = new BufferPool(K, 16 * K, 4, 16 * K, "test");
    ReadBuffers r = buffers(pool);
    r.afterRead(ReadBuffers.SMALL, true);
    r.afterRead(K, true);
    r.afterRead(4 * K, true); // 4 KiB goes back before 16 KiB is taken: both need not fit at once
    assertThat(r.capacity()).isEqualTo(16 * K);
    assertThat(pool.limitHits()).isZero();
    r.release();
  }

  @Test
  void outOfDirectMemoryBacksOffInsteadOfTryingOnEveryRead() {
    int[] calls = new int[1];
    boolean[] out = {true};
    IntFunction<ByteBuffer> allocator =
        size -> {
          calls[0]++;
          if (out[0]) {
            throw new OutOfMemoryError("Cannot reserve " + size + " bytes of direct buffer memory");
          }
          return ByteBuffer.allocateDirect(size);
        };
    long forever = Long.MAX_VALUE / 4; // the back-off window never ends during the test
    BufferPool pool = new BufferPool(K, 16 * K, 4, Long.MAX_VALUE, "test", allocator, forever);
    ReadBuffers r = buffers(pool);
    r.afterRead(ReadBuffers.SMALL, true); // the JVM has no direct memory: small buffer, counted
    assertThat(r.capacity()).isEqualTo(ReadBuffers.SMALL);
    for (int i = 0; i < 5; i++) {
      r.afterRead(ReadBuffers.SMALL, true);
    }
    assertThat(calls[0]).as("allocation attempts during the back-off").isEqualTo(1);
    assertThat(pool.limitHits()).isEqualTo(6);
    assertThat(pool.lent()).isZero();
    // a back-off that has ended: one thread tries again, and its success ends it
    BufferPool quick = new BufferPool(K, 16 * K, 4, Long.MAX_VALUE, "test", allocator, 0);
    ReadBuffers q = buffers(quick);
    q.afterRead(ReadBuffers.SMALL, true);
    out[0] = false;
    q.afterRead(ReadBuffers.SMALL, true);
    assertThat(q.capacity()).isEqualTo(K);
    q.release();
  }

  @Test
  void tiersEndAtTheMaximumEvenIfItIsNoPowerOfFourAbove() {
    BufferPool pool = new BufferPool(64 * K, 1000 * K, 256, Long.MAX_VALUE, "test");
    assertThat(pool.tiers()).isEqualTo(3);
    assertThat(pool.size(0)).isEqualTo(64 * K);
    assertThat(pool.size(1)).isEqualTo(256 * K);
    assertThat(pool.size(2)).isEqualTo(1000 * K);
    BufferPool one = new BufferPool(64 * K, 64 * K, 256, Long.MAX_VALUE, "test");
    assertThat(one.tiers()).isEqualTo(1);
  }
}
