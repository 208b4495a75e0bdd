package dev.meshlet.l4;

import java.nio.ByteBuffer;
import java.util.concurrent.ArrayBlockingQueue;

/**
 * Direct buffers for bulk splicing, lent only while bytes flow, so an idle connection holds none.
 * At most {@code capacity} free buffers are kept; beyond that a returned buffer is left to the GC.
 */
final class BufferPool {
  private final int bufferSize;
  private final ArrayBlockingQueue<ByteBuffer> free;

  BufferPool(int bufferSize, int capacity) {
    this.bufferSize = bufferSize;
    this.free = new ArrayBlockingQueue<>(capacity);
  }

  int bufferSize() {
    return bufferSize;
  }

  ByteBuffer take() {
    ByteBuffer b = free.poll();
    return b != null ? b : ByteBuffer.allocateDirect(bufferSize);
  }

  void give(ByteBuffer b) {
    b.clear();
    free.offer(b);
  }
}
