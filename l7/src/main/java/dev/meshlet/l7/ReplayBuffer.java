package dev.meshlet.l7;

import java.nio.ByteBuffer;
import java.util.Arrays;

/**
 * A copy of request body bytes kept to be sent again by a later try, grown by doubling up to a
 * limit: the whole of a buffered body ({@link RequestBody}), or what a try sent of a streamed one
 * ({@link ProxyRequestContent}). Not thread-safe: its owner guards it.
 */
final class ReplayBuffer {
  private static final byte[] EMPTY = new byte[0];

  private final int limit;
  private byte[] bytes;
  private int length;

  /**
   * An empty copy of at most {@code limit} bytes, with room for {@code initial} (0 for none yet).
   */
  ReplayBuffer(int limit, int initial) {
    this.limit = limit;
    this.bytes = initial <= 0 ? EMPTY : new byte[Math.min(initial, limit)];
  }

  /**
   * Appends the remaining bytes of {@code src}, leaving its position as it is; false, with nothing
   * copied, when they would take the copy past its limit.
   */
  boolean append(ByteBuffer src) {
    int n = src.remaining();
    if ((long) length + n > limit) {
      return false;
    }
    if (length + n > bytes.length) {
      bytes = Arrays.copyOf(bytes, Math.min(limit, Math.max(length + n, bytes.length * 2)));
    }
    src.get(src.position(), bytes, length, n);
    length += n;
    return true;
  }

  /** The bytes held. */
  int length() {
    return length;
  }

  /**
   * The bytes held, as a buffer over this copy (it must not be appended to while that is in use).
   */
  ByteBuffer view() {
    return ByteBuffer.wrap(bytes, 0, length);
  }

  /**
   * A new array of the bytes held followed by the remaining bytes of {@code more} (which it
   * consumes).
   */
  byte[] with(ByteBuffer more) {
    byte[] all = Arrays.copyOf(bytes, length + more.remaining());
    more.get(all, length, more.remaining());
    return all;
  }
}
