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
 * logged once, and so is one the JVM has no direct memory for (after which the pool allocates
 * nothing for a second: the JDK's own attempt to free some waits half a second). Each tier keeps at
 * most {@code poolSize × bufferSize} bytes of free buffers (at least one); beyond that a returned
 * buffer is left to the GC.
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
  private final java.util.concurrent.atomic.AtomicInteger largestLent = new java.util.concurrent.atomic.AtomicInteger();
  /** Until when (System.nanoTime) no buffer is allocated, after the JVM ran out of direct memory. */
  private volatile long noDirectUntil;
  private volatile boolean outOfDirect;

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
    if (size > limit) { // configured so (bufferMemory below the size): not a limit reached under load
      return null;
    }
    if (lent.addAndGet(size) > limit) {
      lent.addAndGet(-size);
      refused("bufferMemory (" + limit + " bytes) reached");
      return null;
    }
    ByteBuffer b = free[tier].poll();
    if (b == null) {
      b = allocate(size);
      if (b == null) {
        lent.addAndGet(-size);
        return null;
      }
    }
    if (size > largestLent.get()) {
      largestLent.accumulateAndGet(size, Math::max);
    }
    return b;
  }

  private @Nullable ByteBuffer allocate(int size) {
    if (outOfDirect && System.nanoTime() - noDirectUntil < 0) {
      limitHits.increment();
      return null;
    }
    try {
      ByteBuffer b = ByteBuffer.allocateDirect(size);
      outOfDirect = false;
      return b;
    } catch (OutOfMemoryError e) { // -XX:MaxDirectMemorySize reached: as the limit, not a dead connection
      noDirectUntil = System.nanoTime() + 1_000_000_000L;
      outOfDirect = true;
      refused("the JVM has no direct memory left (" + e.getMessage() + ")");
      return null;
    }
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
    return largestLent.get();
  }

  private void refused(String why) {
    limitHits.increment();
    if (warned.compareAndSet(false, true)) {
      LOG.log(System.Logger.Level.WARNING, owner + ": " + why + "; connections read with smaller buffers "
          + "until others are returned, counted in stats().bufferLimitHits");
    }
  }
}
