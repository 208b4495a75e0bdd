package dev.meshlet.l4;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.security.KeyManagementException;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;
import java.util.List;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLException;
import javax.net.ssl.SSLParameters;

/** Real ClientHellos, made by the JDK's SSLEngine in client mode (which needs no certificate). */
final class Hellos {
  private Hellos() {}

  /** The first flight of a JDK client connecting to {@code serverName} (none if null). */
  static byte[] jdk(String serverName, String... alpn) {
    try {
      SSLContext context = SSLContext.getInstance("TLS");
      context.init(null, null, null);
      SSLEngine engine =
          serverName != null ? context.createSSLEngine(serverName, 443) : context.createSSLEngine();
      engine.setUseClientMode(true);
      SSLParameters p = engine.getSSLParameters();
      if (alpn.length > 0) {
        p.setApplicationProtocols(alpn);
      }
      if (serverName == null) {
        p.setServerNames(List.of());
      }
      engine.setSSLParameters(p);
      ByteBuffer out = ByteBuffer.allocate(engine.getSession().getPacketBufferSize());
      engine.wrap(ByteBuffer.allocate(0), out);
      out.flip();
      byte[] hello = new byte[out.remaining()];
      out.get(hello);
      return hello;
    } catch (NoSuchAlgorithmException | KeyManagementException | SSLException e) {
      throw new IllegalStateException(e);
    }
  }

  /** The same handshake bytes re-split into records of at most {@code size} bytes each. */
  static byte[] resplit(byte[] records, int size) {
    ByteArrayOutputStream handshake = new ByteArrayOutputStream();
    int p = 0;
    while (p + 5 <= records.length) {
      int len = ((records[p + 3] & 0xFF) << 8) | (records[p + 4] & 0xFF);
      handshake.write(records, p + 5, len);
      p += 5 + len;
    }
    byte[] hs = handshake.toByteArray();
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    for (int q = 0; q < hs.length; q += size) {
      int n = Math.min(size, hs.length - q);
      out.write(22);
      out.write(3);
      out.write(1);
      out.write(n >> 8);
      out.write(n);
      out.write(hs, q, n);
    }
    return out.toByteArray();
  }

  static byte[] prefix(byte[] b, int n) {
    return Arrays.copyOf(b, n);
  }
}
