package dev.meshlet.l4;

import dev.meshlet.l4.internal.Pipe;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import javax.net.ssl.SSLSocket;
import org.jspecify.annotations.Nullable;

/**
 * One end of a connection as its directions read and write it: the socket's channel, or TLS over
 * that channel (the JDK's {@link SSLSocket} layered on the channel's socket, so the handshake and
 * the records run on the connection's virtual threads). Plain bytes go straight to the channel; TLS
 * ones through a heap array, as the JDK's TLS streams take no direct buffers. A tunnel's end is a
 * {@link Pipe} another module supplies (an upgraded HTTP connection), used as it is.
 */
final class Wire {
  private final @Nullable SocketChannel channel;
  private final @Nullable Pipe pipe;
  private final @Nullable SSLSocket tls;
  private final @Nullable InputStream in;
  private final @Nullable OutputStream out;

  /** Copies between a direct buffer and the TLS streams; one per way, each owned by its thread. */
  private byte @Nullable [] readScratch;

  private byte @Nullable [] writeScratch;

  /** The plain socket's stream, for FIONREAD only; made by the reading thread when first asked. */
  private @Nullable InputStream waitingIn;

  private Wire(@Nullable SocketChannel channel, @Nullable SSLSocket tls, @Nullable Pipe pipe)
      throws IOException {
    this.channel = channel;
    this.pipe = pipe;
    this.tls = tls;
    this.in = tls != null ? tls.getInputStream() : null;
    this.out = tls != null ? tls.getOutputStream() : null;
  }

  /** The channel itself. */
  static Wire plain(SocketChannel channel) {
    try {
      return new Wire(channel, null, null);
    } catch (IOException e) {
      throw new AssertionError("a plain wire opens no stream", e);
    }
  }

  /** TLS over {@code channel}, its handshake done. */
  static Wire tls(SocketChannel channel, SSLSocket socket) throws IOException {
    return new Wire(channel, socket, null);
  }

  /** A tunnel's end. */
  static Wire of(Pipe pipe) {
    try {
      return new Wire(null, null, pipe);
    } catch (IOException e) {
      throw new AssertionError("a pipe's wire opens no stream", e);
    }
  }

  private SocketChannel channel() {
    SocketChannel c = channel;
    if (c == null) {
      throw new IllegalStateException("a pipe's wire has no channel");
    }
    return c;
  }

  /** Whether this end speaks TLS. */
  boolean isTls() {
    return tls != null;
  }

  /** Reads into {@code b}; -1 at end of stream (for TLS, a close_notify or the socket's end). */
  int read(ByteBuffer b) throws IOException {
    InputStream s = in;
    if (s == null) {
      Pipe p = pipe;
      return p != null ? p.read(b) : channel().read(b);
    }
    if (b.hasArray()) {
      int n = s.read(b.array(), b.arrayOffset() + b.position(), b.remaining());
      if (n > 0) {
        b.position(b.position() + n);
      }
      return n;
    }
    byte[] scratch = readScratch;
    if (scratch == null) {
      scratch = readScratch = new byte[16 * 1024];
    }
    int n = s.read(scratch, 0, Math.min(scratch.length, b.remaining()));
    if (n > 0) {
      b.put(scratch, 0, n);
    }
    return n;
  }

  /** Writes what {@code b} holds, all of it for TLS; returns the bytes written. */
  int write(ByteBuffer b) throws IOException {
    OutputStream s = out;
    if (s == null) {
      Pipe p = pipe;
      if (p != null) {
        int n = b.remaining();
        p.write(b);
        return n;
      }
      return channel().write(b);
    }
    int n = b.remaining();
    if (b.hasArray()) {
      s.write(b.array(), b.arrayOffset() + b.position(), n);
      b.position(b.limit());
      return n;
    }
    byte[] scratch = writeScratch;
    if (scratch == null) {
      scratch = writeScratch = new byte[16 * 1024];
    }
    while (b.hasRemaining()) {
      int k = Math.min(scratch.length, b.remaining());
      b.get(scratch, 0, k);
      s.write(scratch, 0, k);
    }
    return n;
  }

  /** Half-closes: for TLS a close_notify first (TLS 1.3 keeps the other way open). */
  void shutdownOutput() throws IOException {
    SSLSocket t = tls;
    if (t != null) {
      t.shutdownOutput();
    } else if (pipe != null) {
      pipe.shutdownOutput();
    } else {
      channel().shutdownOutput();
    }
  }

  /**
   * Bytes readable without blocking: on the socket (FIONREAD), or decrypted and buffered. A pipe
   * cannot tell: after a read that filled the buffer more is taken to follow (a burst).
   */
  int available() throws IOException {
    InputStream s = in;
    if (s == null) {
      if (pipe != null) {
        return Integer.MAX_VALUE; // a burst: the next read may take a larger buffer
      }
      s = waitingIn;
      if (s == null) {
        s = waitingIn = channel().socket().getInputStream();
      }
    }
    return s.available();
  }
}
