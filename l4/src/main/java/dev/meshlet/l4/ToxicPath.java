package dev.meshlet.l4;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.ByteBuffer;
import java.time.Duration;

/**
 * The slow path of a {@link Direction}: forwards one chunk through the toxics in effect. Everything
 * happens on the direction's own virtual thread (bandwidth paces its writes, a slicer parks it
 * between segments), except latency: a delayed chunk goes to the direction's {@link DelayLine},
 * whose own thread sends it when it is due, so the reader keeps reading.
 */
final class ToxicPath {
  /** A bandwidth-limited write sends at most this fraction of a second's worth of bytes at once. */
  private static final int PACING_SLICES_PER_SECOND = 20;

  private ToxicPath() {}

  /**
   * Forwards what {@code buf} holds (between position and limit) to {@code dst} through {@code
   * toxics}; returns the bytes written. A toxic may end the connection, after which the pump's next
   * read fails and it stops quietly.
   */
  static int forward(Direction direction, ActiveToxic[] toxics, ByteBuffer buf) throws IOException {
    long delayNanos = -1; // none: no latency toxic
    long now = System.nanoTime();
    for (ActiveToxic t : toxics) {
      if (t.toxic instanceof Toxic.Latency l && t.inEffect(now)) {
        long d = l.latency().toNanos();
        long jitter = l.jitter().toNanos();
        if (jitter > 0) {
          d += (long) ((t.random.nextDouble() * 2 - 1) * jitter);
        }
        delayNanos = Math.max(0, delayNanos) + Math.max(0, d);
      }
    }
    DelayLine line = direction.delayLine(delayNanos >= 0);
    if (line != null && (delayNanos >= 0 || line.busy())) {
      line.offer(buf, now + Math.max(0, delayNanos)); // the line's thread sends and counts it
      return 0;
    }
    return pass(direction, toxics, buf);
  }

  /**
   * Sends the chunk through every toxic but latency (already applied); returns the bytes written.
   * Runs on the direction's thread or, for a delayed chunk, on its delay line's thread, never both.
   */
  static int pass(Direction direction, ActiveToxic[] toxics, ByteBuffer buf) throws IOException {
    Wire dst = direction.destination();
    int n = buf.remaining();
    long now = System.nanoTime();
    // Toxics that swallow the chunk come first: nothing after them sees the data.
    for (ActiveToxic t : toxics) {
      if (!t.inEffect(now)) {
        continue;
      }
      if (t.toxic instanceof Toxic.ResetPeer r) {
        buf.position(buf.limit());
        sleep(r.timeout().toNanos());
        direction.connection().end(Cause.TOXIC, "toxic " + t.name + ": reset peer", true);
        return 0;
      }
      if (t.toxic instanceof Toxic.Timeout) {
        t.dropped += n;
        buf.position(buf.limit());
        return 0;
      }
    }
    ActiveToxic limitReached = null;
    ActiveToxic slicer = null;
    ActiveToxic bandwidth = null;
    long bytesPerSecond = Long.MAX_VALUE;
    for (ActiveToxic t : toxics) {
      if (!t.inEffect(now)) {
        continue;
      }
      switch (t.toxic) {
        case Toxic.LimitData l -> {
          long left = l.bytes() - t.passed;
          int pass = (int) Math.min(buf.remaining(), Math.max(0, left));
          buf.limit(buf.position() + pass);
          t.passed += pass;
          if (t.passed >= l.bytes()) {
            limitReached = t;
          }
        }
        case Toxic.Latency l -> {
          // applied by forward(), through the delay line
        }
        case Toxic.Slicer s -> {
          if (slicer == null) {
            slicer = t;
          }
        }
        case Toxic.Bandwidth b -> {
          long rate = b.kibPerSecond() * 1024;
          if (rate < bytesPerSecond) {
            bytesPerSecond = rate;
            bandwidth = t;
          }
        }
        case Toxic.SlowClose s -> {
          // acts at end of stream
        }
        case Toxic.ResetPeer r -> throw new AssertionError("handled above");
        case Toxic.Timeout x -> throw new AssertionError("handled above");
      }
    }
    int written = 0;
    int end = buf.limit();
    long pacingSlice =
        bandwidth == null
            ? Integer.MAX_VALUE
            : Math.max(1, bytesPerSecond / PACING_SLICES_PER_SECOND);
    while (buf.position() < end) {
      int size = end - buf.position();
      if (slicer != null) {
        size = Math.min(size, segmentSize((Toxic.Slicer) slicer.toxic, slicer));
      }
      size = (int) Math.min(size, pacingSlice);
      buf.limit(buf.position() + size);
      while (buf.hasRemaining()) {
        dst.write(buf);
      }
      buf.limit(end);
      written += size;
      if (bandwidth != null) {
        long sentAt = System.nanoTime();
        long due =
            Math.max(bandwidth.nextWriteNanos, sentAt) + size * 1_000_000_000L / bytesPerSecond;
        bandwidth.nextWriteNanos = due;
        sleep(due - sentAt);
      }
      if (slicer != null && buf.position() < end) {
        sleep(((Toxic.Slicer) slicer.toxic).delay().toNanos());
      }
    }
    if (limitReached != null) {
      direction.account(written); // before the end, so the journal's count includes them
      written = 0;
      direction
          .connection()
          .end(
              Cause.TOXIC,
              "toxic "
                  + limitReached.name
                  + ": limit of "
                  + ((Toxic.LimitData) limitReached.toxic).bytes()
                  + " bytes reached",
              false);
    }
    return written;
  }

  /** Before the FIN is passed on: a slow close holds it. */
  static void beforeEndOfStream(ActiveToxic[] toxics) throws IOException {
    long now = System.nanoTime();
    for (ActiveToxic t : toxics) {
      if (t.toxic instanceof Toxic.SlowClose s && t.inEffect(now)) {
        sleep(s.delay().toNanos());
      }
    }
  }

  private static int segmentSize(Toxic.Slicer s, ActiveToxic state) {
    int variation = s.sizeVariation();
    if (variation == 0) {
      return s.averageSize();
    }
    return s.averageSize() - variation + state.random.nextInt(2 * variation + 1);
  }

  private static void sleep(long nanos) throws InterruptedIOException {
    if (nanos <= 0) {
      return;
    }
    try {
      Thread.sleep(Duration.ofNanos(nanos));
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new InterruptedIOException("interrupted while a toxic held the data");
    }
  }
}
