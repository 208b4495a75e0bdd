package dev.meshlet.l4;

import java.nio.ByteBuffer;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;
import org.jspecify.annotations.Nullable;

/**
 * Direct buffers for bulk splicing, lent only while bytes flow, so an idle connection holds none.
 *
 * <p>Buffers come in sizes (tiers): {@code bufferSize}, then ×4 each step up to {@code maxBufferSize}.
 * A direction starts a burst with the smallest and steps up while its reads fill the buffer (see
 * {@link ReadBuffers}): one large read moves more bytes per system call, which is what bulk
 * throughput depends on without a kernel splice. At most {@code limit} bytes are lent at once; a
 * request past it is refused (the direction keeps the buffer it has, or its small one), counted and
 * logged once. Each tier keeps at most {@code poolSize × bufferSize} bytes of free buffers; beyond
 * that a returned buffer is left to the GC.
 */
final class BufferPool {
  private static final System.Logger LOG = System.getLogger(TcpProxy.class.getName());

  private final int[] sizes;
  private final ArrayBlockingQueue<ByteBuffer>[] free;
  private final long limit;
  private final String owner;
  private final AtomicLong lent = new AtomicLong();
  private final LongAdder limitHits = new LongAdder();
  private final AtomicBoolean warned = new AtomicBoolean();
  /** The largest buffer ever lent (for tests: whether a stream reached the top tier). */
  private volatile int largestLent;

  @SuppressWarnings("unchecked")
  BufferPool(int bufferSize, int maxBufferSize, int poolSize, long limit, String owner) {
    int tiers = 1;
    for (long s = bufferSize; s < maxBufferSize; s *= 4) {
      tiers++;
    }
    this.sizes = new int[tiers];
    this.free = new ArrayBlockingQueue[tiers];
    for (int t = 0; t < tiers; t++) {
      sizes[t] = (int) Math.min((long) bufferSize << (2 * t), maxBufferSize);
      free[t] = new ArrayBlockingQueue<>(Math.max(1, (int) ((long) poolSize * bufferSize / sizes[t])));
    }
    this.limit = limit;
    this.owner = owner;
  }

  /** The smallest pooled buffer's size. */
  int bufferSize() {
    return sizes[0];
  }

  /** How many sizes there are; tier {@code tiers() - 1} is {@code maxBufferSize}. */
  int tiers() {
    return sizes.length;
  }

  int size(int tier) {
    return sizes[tier];
  }

  /**
   * A buffer of the tier's size, or null if lending it would pass the limit (or the JVM has no direct
   * memory left): the caller goes on with what it has.
   */
  @Nullable ByteBuffer take(int tier) {
    int size = sizes[tier];
    if (lent.addAndGet(size) > limit) {
      lent.addAndGet(-size);
      refused();
      return null;
    }
    ByteBuffer b = free[tier].poll();
    if (b == null) {
      try {
        b = ByteBuffer.allocateDirect(size);
      } catch (OutOfMemoryError e) { // -XX:MaxDirectMemorySize reached: as the limit, not a dead connection
        lent.addAndGet(-size);
        refused();
        return null;
      }
    }
    if (size > largestLent) {
      largestLent = size;
    }
    return b;
  }

  void give(ByteBuffer b) {
    int size = b.capacity();
    lent.addAndGet(-size);
    b.clear();
    for (int t = 0; t < sizes.length; t++) {
      if (sizes[t] == size) {
        free[t].offer(b);
        return;
      }
    }
  }

  /** Bytes of buffers lent now. */
  long lent() {
    return lent.get();
  }

  long limitHits() {
    return limitHits.sum();
  }

  int largestLent() {
    return largestLent;
  }

  private void refused() {
    limitHits.increment();
    if (warned.compareAndSet(false, true)) {
      LOG.log(System.Logger.Level.WARNING, owner + ": bufferMemory (" + limit + " bytes) reached; connections "
          + "read with smaller buffers until others are returned, counted in stats().bufferLimitHits");
    }
  }
}
