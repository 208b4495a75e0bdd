package dev.meshlet.l7;

import dev.meshlet.core.Endpoint;
import java.io.DataInputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import org.eclipse.jetty.http.HttpFields;
import org.eclipse.jetty.http.HttpURI;
import org.eclipse.jetty.http.HttpVersion;
import org.eclipse.jetty.http.MetaData;
import org.eclipse.jetty.http2.hpack.HpackDecoder;
import org.eclipse.jetty.http2.hpack.HpackEncoder;
import org.eclipse.jetty.http2.hpack.HpackException;

/**
 * One h2c health probe by prior knowledge, blocking on the check's virtual thread: the preface, an
 * empty SETTINGS frame and one {@code GET} on stream 1, then frames read until that stream's
 * response head, whose {@code :status} is the answer. Jetty's HPACK codes the heads; the frames are
 * few enough to write here (RFC 9113 §4, §6).
 */
final class H2cProbe {
  private static final byte[] PREFACE =
      "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".getBytes(StandardCharsets.US_ASCII);
  private static final int HEADERS = 1;
  private static final int SETTINGS = 4;
  private static final int GOAWAY = 7;
  private static final int CONTINUATION = 9;
  private static final int END_STREAM = 0x1;
  private static final int ACK = 0x1;
  private static final int END_HEADERS = 0x4;
  private static final int PADDED = 0x8;
  private static final int PRIORITY = 0x20;

  /** The largest response head read, and the largest frame. */
  private static final int MAX_HEAD = 16 * 1024;

  private H2cProbe() {}

  /**
   * The status of {@code GET path} on {@code endpoint} in h2c; -1 when the backend closed or went
   * away before answering, or answered with something that is no HTTP/2.
   *
   * @throws SocketTimeoutException when no answer came within {@code timeout}
   */
  static int status(Endpoint endpoint, Duration timeout, String path, String authority)
      throws IOException {
    long deadline = System.nanoTime() + timeout.toNanos();
    try (Socket socket = new Socket()) {
      socket.connect(endpoint.address(), HttpHealthCheck.millisLeft(deadline));
      socket.setSoTimeout(HttpHealthCheck.millisLeft(deadline));
      OutputStream out = socket.getOutputStream();
      out.write(PREFACE);
      frame(out, SETTINGS, 0, 0, new byte[0], 0);
      byte[] head = requestHead(path, authority);
      frame(out, HEADERS, END_STREAM | END_HEADERS, 1, head, head.length);
      out.flush();
      DataInputStream in = new DataInputStream(socket.getInputStream());
      HpackDecoder decoder = new HpackDecoder(MAX_HEAD, System::nanoTime);
      ByteBuffer block = ByteBuffer.allocate(MAX_HEAD);
      boolean inHead = false;
      while (true) {
        socket.setSoTimeout(HttpHealthCheck.millisLeft(deadline));
        int length = in.readUnsignedByte() << 16 | in.readUnsignedShort();
        int type = in.readUnsignedByte();
        int flags = in.readUnsignedByte();
        int stream = in.readInt() & 0x7fffffff;
        if (length > MAX_HEAD) {
          return -1;
        }
        byte[] payload = new byte[length];
        in.readFully(payload);
        if (type == GOAWAY) {
          return -1;
        }
        if (type == SETTINGS && (flags & ACK) == 0) {
          frame(out, SETTINGS, ACK, 0, new byte[0], 0);
          out.flush();
          continue;
        }
        boolean first = type == HEADERS && stream == 1;
        if (!first && !(inHead && type == CONTINUATION && stream == 1)) {
          continue; // PING, WINDOW_UPDATE, our SETTINGS' ACK, ...
        }
        int from = 0;
        int to = length;
        if (first && (flags & PADDED) != 0) {
          from = 1;
          to -= payload[0] & 0xff;
        }
        if (first && (flags & PRIORITY) != 0) {
          from += 5;
        }
        if (to < from || block.remaining() < to - from) {
          return -1;
        }
        block.put(payload, from, to - from);
        inHead = true;
        if ((flags & END_HEADERS) != 0) {
          block.flip();
          return decode(decoder, block);
        }
      }
    } catch (java.io.EOFException e) {
      return -1;
    }
  }

  private static int decode(HpackDecoder decoder, ByteBuffer block) {
    try {
      return decoder.decode(block) instanceof MetaData.Response r ? r.getStatus() : -1;
    } catch (HpackException.SessionException | HpackException.StreamException e) {
      return -1;
    }
  }

  private static byte[] requestHead(String path, String authority) throws IOException {
    HttpFields fields =
        HttpFields.build().put("user-agent", "meshlet-health-check").put("accept", "*/*");
    HttpURI uri = HttpURI.build().scheme("http").authority(authority).pathQuery(path);
    ByteBuffer b = ByteBuffer.allocate(4096);
    try {
      new HpackEncoder().encode(b, new MetaData.Request("GET", uri, HttpVersion.HTTP_2, fields));
    } catch (HpackException e) {
      throw new IOException("health check request head: " + e.getMessage(), e);
    }
    b.flip();
    byte[] head = new byte[b.remaining()];
    b.get(head);
    return head;
  }

  private static void frame(
      OutputStream out, int type, int flags, int stream, byte[] payload, int length)
      throws IOException {
    byte[] h = {
      (byte) (length >>> 16),
      (byte) (length >>> 8),
      (byte) length,
      (byte) type,
      (byte) flags,
      (byte) (stream >>> 24),
      (byte) (stream >>> 16),
      (byte) (stream >>> 8),
      (byte) stream
    };
    out.write(h);
    out.write(payload, 0, length);
  }
}
