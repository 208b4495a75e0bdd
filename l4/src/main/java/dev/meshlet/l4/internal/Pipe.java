package dev.meshlet.l4.internal;

import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * One end of a spliced tunnel as its directions read and write it, blocking the calling (virtual)
 * thread: one thread reads, another writes, never two of either at once.
 */
public interface Pipe {
  /**
   * Reads into {@code dst} (from its position up to its limit), waiting until at least one byte
   * came; -1 at end of stream.
   *
   * @throws java.net.SocketTimeoutException when the end stayed idle for its idle timeout
   * @throws IOException when the end failed or was closed
   */
  int read(ByteBuffer dst) throws IOException;

  /** Writes everything {@code src} holds (from its position up to its limit), waiting for it. */
  void write(ByteBuffer src) throws IOException;

  /** Passes the end of stream on (a half-close): the other way keeps flowing. */
  void shutdownOutput() throws IOException;

  /** Closes the end, with a reset (TCP RST) if {@code reset}; idempotent, never throws. */
  void close(boolean reset);
}
