package dev.meshlet.l4;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/** The read-buffer policy of one direction, step by step (no sockets: the pool alone decides). */
class ReadBuffersTest {
  private static final int K = 1024;

  @Test
  void aBurstClimbsWhileReadsFillTheBufferAndGivesItBackWhenOneDoesNot() {
    BufferPool pool = new BufferPool(K, 16 * K, 4, Long.MAX_VALUE, "test");
    assertThat(pool.tiers()).isEqualTo(3); // 1 KiB, 4 KiB, 16 KiB
    ReadBuffers r = new ReadBuffers(pool);
    assertThat(r.capacity()).isEqualTo(ReadBuffers.SMALL);
    r.afterRead(100); // a small message: nothing borrowed
    assertThat(r.capacity()).isEqualTo(ReadBuffers.SMALL);
    assertThat(pool.lent()).isZero();
    r.afterRead(ReadBuffers.SMALL); // filled: a burst starts with the smallest pooled buffer
    assertThat(r.capacity()).isEqualTo(K);
    r.afterRead(K);
    assertThat(r.capacity()).isEqualTo(4 * K);
    r.afterRead(4 * K);
    assertThat(r.capacity()).isEqualTo(16 * K);
    r.afterRead(16 * K); // the top: stays
    assertThat(r.capacity()).isEqualTo(16 * K);
    assertThat(pool.lent()).isEqualTo(16 * K);
    assertThat(pool.largestLent()).isEqualTo(16 * K);
    r.afterRead(5 * K); // drained the socket: the next read may park, so the buffer goes back
    assertThat(r.capacity()).isEqualTo(ReadBuffers.SMALL);
    assertThat(pool.lent()).isZero();
    r.afterRead(ReadBuffers.SMALL); // the stream goes on: straight back to the size it had reached
    assertThat(r.capacity()).isEqualTo(16 * K);
    r.afterRead(600); // a read the smallest pooled buffer holds: the next burst starts small again
    assertThat(r.capacity()).isEqualTo(ReadBuffers.SMALL);
    r.afterRead(ReadBuffers.SMALL);
    assertThat(r.capacity()).isEqualTo(K);
    r.release();
    assertThat(pool.lent()).isZero();
    assertThat(pool.limitHits()).isZero();
  }

  @Test
  void pastTheLimitADirectionKeepsWhatItHas() {
    BufferPool pool = new BufferPool(K, 16 * K, 4, 2 * K, "test");
    ReadBuffers a = new ReadBuffers(pool);
    ReadBuffers b = new ReadBuffers(pool);
    a.afterRead(ReadBuffers.SMALL);
    a.afterRead(K); // 4 KiB would pass the 2 KiB limit: a keeps its 1 KiB
    assertThat(a.capacity()).isEqualTo(K);
    assertThat(pool.limitHits()).isEqualTo(1);
    b.afterRead(ReadBuffers.SMALL);
    assertThat(b.capacity()).isEqualTo(K);
    assertThat(pool.lent()).isEqualTo(2 * K);
    ReadBuffers c = new ReadBuffers(pool);
    c.afterRead(ReadBuffers.SMALL); // nothing left to lend: c reads through its small buffer
    assertThat(c.capacity()).isEqualTo(ReadBuffers.SMALL);
    assertThat(pool.limitHits()).isEqualTo(2);
    a.release();
    b.release();
    c.afterRead(ReadBuffers.SMALL);
    assertThat(c.capacity()).isEqualTo(K);
    c.release();
    assertThat(pool.lent()).isZero();
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
