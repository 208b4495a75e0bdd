package dev.meshlet.l7;

import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.OutputStream;
import java.net.Socket;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;

/**
 * Raw HTTP/2 frames over a socket, for what well-behaved clients never send: floods, rapid resets,
 * endless CONTINUATION. Writes frames as RFC 9113 §4 lays them out; HPACK only as far as a request
 * needs (static-table indexes and literals without indexing).
 */
final class H2Frames implements AutoCloseable {
  static final int DATA = 0;
  static final int HEADERS = 1;
  static final int RST_STREAM = 3;
  static final int SETTINGS = 4;
  static final int PING = 6;
  static final int GOAWAY = 7;
  static final int CONTINUATION = 9;
  static final int END_STREAM = 0x1;
  static final int END_HEADERS = 0x4;

  static final int REFUSED_STREAM = 0x7;
  static final int ENHANCE_YOUR_CALM = 0xb;

  private final Socket socket;
  private final OutputStream out;
  private final DataInputStream in;

  /** Connects and sends the client preface and an empty SETTINGS frame. */
  H2Frames(int port) throws IOException {
    socket = new Socket("127.0.0.1", port);
    socket.setSoTimeout(10_000);
    // frames go out together on flush: a flood that arrives in one read is read whole before the
    // proxy closes, so its close is a FIN after the GOAWAY, not a reset that may discard it
    out = new BufferedOutputStream(socket.getOutputStream(), 64 * 1024);
    in = new DataInputStream(socket.getInputStream());
    out.write("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".getBytes(StandardCharsets.ISO_8859_1));
    frame(SETTINGS, 0, 0, new byte[0]);
  }

  /** Buffers one frame; {@link #flush()} or a read sends it. */
  void frame(int type, int flags, int stream, byte[] payload) throws IOException {
    byte[] f = new byte[9 + payload.length];
    f[0] = (byte) (payload.length >>> 16);
    f[1] = (byte) (payload.length >>> 8);
    f[2] = (byte) payload.length;
    f[3] = (byte) type;
    f[4] = (byte) flags;
    f[5] = (byte) (stream >>> 24 & 0x7f);
    f[6] = (byte) (stream >>> 16);
    f[7] = (byte) (stream >>> 8);
    f[8] = (byte) stream;
    System.arraycopy(payload, 0, f, 9, payload.length);
    out.write(f);
  }

  /** A GET / request's header block: :method GET, :scheme http, :path /, :authority localhost. */
  static byte[] getRequest() {
    byte[] authority = "localhost".getBytes(StandardCharsets.ISO_8859_1);
    byte[] b = new byte[3 + 2 + authority.length];
    b[0] = (byte) 0x82; // :method GET (static 2)
    b[1] = (byte) 0x86; // :scheme http (static 6)
    b[2] = (byte) 0x84; // :path / (static 4)
    b[3] = 0x01; // literal without indexing, name :authority (static 1)
    b[4] = (byte) authority.length;
    System.arraycopy(authority, 0, b, 5, authority.length);
    return b;
  }

  /** A literal header field without indexing, of a new name ({@code name} and {@code value}). */
  static byte[] literal(String name, int valueLength) {
    byte[] n = name.getBytes(StandardCharsets.ISO_8859_1);
    byte[] v = "a".repeat(valueLength).getBytes(StandardCharsets.ISO_8859_1);
    byte[] nl = integer(n.length);
    byte[] vl = integer(v.length);
    byte[] b = new byte[1 + nl.length + n.length + vl.length + v.length];
    int i = 0;
    b[i++] = 0x00;
    System.arraycopy(nl, 0, b, i, nl.length);
    i += nl.length;
    System.arraycopy(n, 0, b, i, n.length);
    i += n.length;
    System.arraycopy(vl, 0, b, i, vl.length);
    i += vl.length;
    System.arraycopy(v, 0, b, i, v.length);
    return b;
  }

  /** An HPACK integer with a 7-bit prefix, no Huffman flag (RFC 7541 §5.1). */
  private static byte[] integer(int value) {
    if (value < 127) {
      return new byte[] {(byte) value};
    }
    java.io.ByteArrayOutputStream b = new java.io.ByteArrayOutputStream();
    b.write(127);
    int rest = value - 127;
    while (rest >= 128) {
      b.write((rest & 0x7f) | 0x80);
      rest >>>= 7;
    }
    b.write(rest);
    return b.toByteArray();
  }

  /** The RST_STREAM payload: error code CANCEL (8). */
  static byte[] cancel() {
    return new byte[] {0, 0, 0, 8};
  }

  /**
   * Reads frames until a GOAWAY and returns its error code; -1 if the connection ended without one.
   * Frames before it (SETTINGS, responses, ACKs) are skipped.
   */
  int awaitGoAway() throws IOException {
    try {
      out.flush();
      while (true) {
        int length =
            in.readUnsignedByte() << 16 | in.readUnsignedByte() << 8 | in.readUnsignedByte();
        int type = in.readUnsignedByte();
        in.readUnsignedByte(); // flags
        in.readInt(); // stream
        byte[] payload = new byte[length];
        in.readFully(payload);
        if (type == GOAWAY) {
          return (payload[4] & 0xff) << 24
              | (payload[5] & 0xff) << 16
              | (payload[6] & 0xff) << 8
              | (payload[7] & 0xff);
        }
      }
    } catch (EOFException | SocketException e) {
      return -1;
    } catch (SocketTimeoutException e) {
      throw new AssertionError("no GOAWAY within 10 s", e);
    }
  }

  /**
   * Reads frames until a RST_STREAM and returns its stream and error code; fails if the connection
   * ends or goes away first.
   */
  int[] awaitReset() throws IOException {
    out.flush();
    while (true) {
      int length = in.readUnsignedByte() << 16 | in.readUnsignedByte() << 8 | in.readUnsignedByte();
      int type = in.readUnsignedByte();
      in.readUnsignedByte(); // flags
      int stream = in.readInt() & 0x7fffffff;
      byte[] payload = new byte[length];
      in.readFully(payload);
      if (type == GOAWAY) {
        throw new AssertionError("GOAWAY before any RST_STREAM");
      }
      if (type == RST_STREAM) {
        int error =
            (payload[0] & 0xff) << 24
                | (payload[1] & 0xff) << 16
                | (payload[2] & 0xff) << 8
                | (payload[3] & 0xff);
        return new int[] {stream, error};
      }
    }
  }

  /** Sends the frames buffered so far. */
  void flush() throws IOException {
    out.flush();
  }

  @Override
  public void close() throws IOException {
    socket.close();
  }
}
