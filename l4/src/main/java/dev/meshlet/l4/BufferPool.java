package dev.meshlet.l4;

import java.nio.ByteBuffer;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.IntFunction;
import org.jspecify.annotations.Nullable;

/**
 * Direct buffers for bulk splicing, lent only while bytes flow, so an idle connection holds none.
 *
 * <p>Buffers come in sizes (tiers): {@code bufferSize}, then ×4 each step up to {@code
 * maxBufferSize}. A direction starts a burst with the smallest and steps up while its reads fill
 * the buffer and more bytes wait (see {@link ReadBuffers}): one large read moves more bytes per
 * system call, which is what bulk throughput depends on without a kernel splice. At most {@code
 * limit} bytes are lent at once; past it, or when the JVM has no direct memory left (then the pool
 * allocates nothing for a second: the JDK's own attempt to free some waits half a second), a
 * direction goes on with a smaller size or its small heap buffer, and {@link ReadBuffers} reports
 * that once per read (counted; the first logged). Each tier keeps at most {@code poolSize ×
 * bufferSize} bytes of free buffers (at least one); beyond that a returned buffer is left to the
 * GC.
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
  private final AtomicInteger largestLent = new AtomicInteger();

  /**
   * Until when (System.nanoTime) no buffer is allocated, after the JVM ran out of direct memory; 0:
   * none.
   */
  private final AtomicLong noDirectUntil = new AtomicLong();

  private final AtomicBoolean warnedOutOfDirect = new AtomicBoolean();
  private final int topTier;
  private final IntFunction<ByteBuffer> allocator;
  private final long backOff;

  BufferPool(int bufferSize, int maxBufferSize, int poolSize, long limit, String owner) {
    this(
        bufferSize,
        maxBufferSize,
        poolSize,
        limit,
        owner,
        ByteBuffer::allocateDirect,
        1_000_000_000L);
  }

  /** With the allocator and the back-off after running out of direct memory given (tests). */
  @SuppressWarnings({"unchecked", "rawtypes"}) // an array of a generic type is made raw
  BufferPool(
      int bufferSize,
      int maxBufferSize,
      int poolSize,
      long limit,
      String owner,
      IntFunction<ByteBuffer> allocator,
      long backOffNanos) {
    this.allocator = allocator;
    this.backOff = backOffNanos;
    int tiers = 1;
    for (long s = bufferSize; s < maxBufferSize; s *= 4) {
      tiers++;
    }
    this.sizes = new int[tiers];
    this.free = new ArrayBlockingQueue[tiers];
    for (int t = 0; t < tiers; t++) {
      sizes[t] = (int) Math.min((long) bufferSize << (2 * t), maxBufferSize);
      free[t] =
          new ArrayBlockingQueue<>(Math.max(1, (int) ((long) poolSize * bufferSize / sizes[t])));
    }
    this.limit = limit;
    this.owner = owner;
    int top = -1;
    while (top + 1 < tiers && sizes[top + 1] <= limit) {
      top++;
    }
    this.topTier = top;
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

  /** The largest tier whose size fits {@code limit}; -1 if none does (the pool never lends). */
  int topTier() {
    return topTier;
  }

  /**
   * A buffer of the tier's size, or null if lending it would pass the limit, or the JVM has no
   * direct memory left: the caller goes on with a smaller one and says so with {@link #refused()}.
   */
  @Nullable ByteBuffer take(int tier) {
    int size = sizes[tier];
    long now;
    do { // never lends past the limit, not even for a moment
      now = lent.get();
      if (now + size > limit) {
        return null;
      }
    } while (!lent.compareAndSet(now, now + size));
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

  /**
   * A new direct buffer, or null while the JVM is out of direct memory: after an OutOfMemoryError
   * (which the JDK throws only after a GC and half a second's wait) nothing is allocated for a
   * second, and then one thread alone tries again; its success ends the back-off.
   */
  private @Nullable ByteBuffer allocate(int size) {
    long until = noDirectUntil.get();
    if (until != 0
        && (System.nanoTime() - until < 0
            || !noDirectUntil.compareAndSet(until, System.nanoTime() + backOff))) {
      return null;
    }
    try {
      ByteBuffer b = allocator.apply(size);
      if (until != 0) {
        noDirectUntil.set(0);
      }
      return b;
    } catch (
        OutOfMemoryError
            e) { // -XX:MaxDirectMemorySize reached: as the limit, not a dead connection
      noDirectUntil.set(System.nanoTime() + backOff);
      if (warnedOutOfDirect.compareAndSet(false, true)) {
        LOG.log(
            System.Logger.Level.WARNING,
            owner
                + ": the JVM has no direct memory left ("
                + e.getMessage()
                + "); connections read with smaller buffers meanwhile, counted in stats().bufferLimitHits");
      }
      return null;
    }
  }

  /**
   * A direction went on with a smaller buffer than it asked for: counted, and the first one logged.
   */
  void refused() {
    limitHits.increment();
    if (noDirectUntil.get() == 0 && warned.compareAndSet(false, true)) {
      LOG.log(
          System.Logger.Level.WARNING,
          owner
              + ": bufferMemory ("
              + limit
              + " bytes) reached; connections "
              + "read with smaller buffers until others are returned, counted in stats().bufferLimitHits");
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
}
