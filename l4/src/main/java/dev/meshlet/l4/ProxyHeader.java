package dev.meshlet.l4;

import java.net.Inet4Address;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import org.jspecify.annotations.Nullable;

/**
 * The PROXY protocol's header, v1 and v2 (HAProxy's proxy-protocol.txt), as a pure codec: {@link
 * #parse} reads the bytes a connection began with and gives a {@link Verdict}; {@link #encode}
 * writes the header a backend is sent. Addresses are parsed here, never looked up: a header is
 * untrusted input and a host name in it is an error, not a DNS query.
 */
final class ProxyHeader {
  /** The v2 signature: no valid v1 header, HTTP request or TLS record starts like it. */
  static final byte[] V2_SIGNATURE = {
    0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A
  };

  /** The v1 header's largest size, {@code "PROXY UNKNOWN ...\r\n"} with two IPv6 addresses. */
  static final int V1_MAX = 107;

  private static final byte[] V1_PREFIX = "PROXY ".getBytes(StandardCharsets.US_ASCII);

  private ProxyHeader() {}

  /** What the bytes read so far say. */
  sealed interface Verdict {}

  /** Too few bytes to tell: read more (the header is at least {@code atLeast} bytes). */
  record NeedMore(int atLeast) implements Verdict {}

  /** Not a PROXY header, or a broken one: the connection is closed. */
  record Invalid(String why) implements Verdict {}

  /**
   * A whole header of {@code length} bytes. The addresses are null for v2's LOCAL command and for
   * v1's {@code UNKNOWN} or any family not TCP over IP: then the connection's own addresses stand.
   */
  record Header(
      int version,
      @Nullable InetSocketAddress source,
      @Nullable InetSocketAddress destination,
      int length)
      implements Verdict {}

  /** Reads a header at the start of {@code b[0..len)}. */
  static Verdict parse(byte[] b, int len) {
    if (len == 0) {
      return new NeedMore(1);
    }
    if (b[0] == V2_SIGNATURE[0]) {
      return parseV2(b, len);
    }
    if (b[0] == 'P') {
      return parseV1(b, len);
    }
    return new Invalid("no PROXY protocol header (first byte 0x" + hex(b[0]) + ")");
  }

  private static Verdict parseV2(byte[] b, int len) {
    int sig = Math.min(len, V2_SIGNATURE.length);
    for (int i = 0; i < sig; i++) {
      if (b[i] != V2_SIGNATURE[i]) {
        return new Invalid("no PROXY protocol header (bad v2 signature)");
      }
    }
    if (len < 16) {
      return new NeedMore(16);
    }
    int verCmd = b[12] & 0xFF;
    if (verCmd >> 4 != 2) {
      return new Invalid("PROXY v2: version " + (verCmd >> 4) + " (expected: 2)");
    }
    int command = verCmd & 0x0F;
    if (command > 1) {
      return new Invalid("PROXY v2: command " + command + " (expected: 0 LOCAL or 1 PROXY)");
    }
    int family = (b[13] & 0xFF) >> 4;
    int transport = b[13] & 0x0F;
    int bodyLength = ((b[14] & 0xFF) << 8) | (b[15] & 0xFF);
    int total = 16 + bodyLength;
    if (len < total) {
      return new NeedMore(total);
    }
    if (family > 3 || transport > 2) {
      return new Invalid("PROXY v2: address family byte 0x" + hex(b[13]));
    }
    if (command == 0 || transport != 1 || family == 0 || family == 3) {
      // LOCAL (a health check of the front's own), UNSPEC, UDP or a UNIX socket: the spec says to
      // keep the connection's own addresses
      return new Header(2, null, null, total);
    }
    int addressBytes = family == 1 ? 4 : 16;
    if (bodyLength < 2 * addressBytes + 4) {
      return new Invalid(
          "PROXY v2: "
              + bodyLength
              + " address bytes (expected: >= "
              + (2 * addressBytes + 4)
              + ")");
    }
    byte[] src = new byte[addressBytes];
    byte[] dst = new byte[addressBytes];
    System.arraycopy(b, 16, src, 0, addressBytes);
    System.arraycopy(b, 16 + addressBytes, dst, 0, addressBytes);
    int ports = 16 + 2 * addressBytes;
    int srcPort = ((b[ports] & 0xFF) << 8) | (b[ports + 1] & 0xFF);
    int dstPort = ((b[ports + 2] & 0xFF) << 8) | (b[ports + 3] & 0xFF);
    return new Header(2, socket(src, srcPort), socket(dst, dstPort), total);
  }

  private static Verdict parseV1(byte[] b, int len) {
    int prefix = Math.min(len, V1_PREFIX.length);
    for (int i = 0; i < prefix; i++) {
      if (b[i] != V1_PREFIX[i]) {
        return new Invalid("no PROXY protocol header (starts with neither v1's nor v2's)");
      }
    }
    int end = -1;
    for (int i = 0; i < Math.min(len, V1_MAX); i++) {
      if (b[i] == '\n') {
        end = i;
        break;
      }
    }
    if (end < 0) {
      return len >= V1_MAX
          ? new Invalid("PROXY v1: no CRLF within " + V1_MAX + " bytes")
          : new NeedMore(len + 1);
    }
    if (end == 0 || b[end - 1] != '\r') {
      return new Invalid("PROXY v1: line ends in LF without CR");
    }
    String line = new String(b, 0, end - 1, StandardCharsets.US_ASCII);
    String[] f = line.split(" ", -1);
    if (f.length >= 2 && f[1].equals("UNKNOWN")) {
      return new Header(1, null, null, end + 1); // the rest of the line is to be ignored
    }
    if (f.length != 6) {
      return new Invalid("PROXY v1: " + f.length + " fields (expected: 6)");
    }
    boolean v4 = f[1].equals("TCP4");
    if (!v4 && !f[1].equals("TCP6")) {
      return new Invalid("PROXY v1: protocol '" + printable(f[1]) + "' (expected: TCP4, TCP6)");
    }
    byte[] src = v4 ? ipv4(f[2]) : ipv6(f[2]);
    byte[] dst = v4 ? ipv4(f[3]) : ipv6(f[3]);
    int srcPort = port(f[4]);
    int dstPort = port(f[5]);
    if (src == null || dst == null) {
      return new Invalid(
          "PROXY v1: bad " + f[1] + " address '" + printable(src == null ? f[2] : f[3]) + "'");
    }
    if (srcPort < 0 || dstPort < 0) {
      return new Invalid("PROXY v1: bad port '" + printable(srcPort < 0 ? f[4] : f[5]) + "'");
    }
    return new Header(1, socket(src, srcPort), socket(dst, dstPort), end + 1);
  }

  /** The header to send a backend for a client at {@code source} that connected to {@code dest}. */
  static byte[] encode(ProxyProtocol version, InetSocketAddress source, InetSocketAddress dest) {
    InetAddress s = source.getAddress();
    InetAddress d = dest.getAddress();
    if (s == null || d == null) { // unresolved: nothing true to say, so say nothing
      return version == ProxyProtocol.V1
          ? "PROXY UNKNOWN\r\n".getBytes(StandardCharsets.US_ASCII)
          : local();
    }
    boolean v4 = s instanceof Inet4Address && d instanceof Inet4Address;
    byte[] src = v4 ? s.getAddress() : sixteen(s);
    byte[] dst = v4 ? d.getAddress() : sixteen(d);
    if (version == ProxyProtocol.V1) {
      String line =
          "PROXY "
              + (v4 ? "TCP4 " : "TCP6 ")
              + text(src)
              + " "
              + text(dst)
              + " "
              + source.getPort()
              + " "
              + dest.getPort()
              + "\r\n";
      return line.getBytes(StandardCharsets.US_ASCII);
    }
    int body = 2 * src.length + 4;
    byte[] h = new byte[16 + body];
    System.arraycopy(V2_SIGNATURE, 0, h, 0, V2_SIGNATURE.length);
    h[12] = 0x21; // version 2, PROXY
    h[13] = (byte) (v4 ? 0x11 : 0x21); // INET or INET6, STREAM
    h[14] = (byte) (body >> 8);
    h[15] = (byte) body;
    System.arraycopy(src, 0, h, 16, src.length);
    System.arraycopy(dst, 0, h, 16 + src.length, dst.length);
    int p = 16 + 2 * src.length;
    h[p] = (byte) (source.getPort() >> 8);
    h[p + 1] = (byte) source.getPort();
    h[p + 2] = (byte) (dest.getPort() >> 8);
    h[p + 3] = (byte) dest.getPort();
    return h;
  }

  private static byte[] local() {
    byte[] h = new byte[16];
    System.arraycopy(V2_SIGNATURE, 0, h, 0, V2_SIGNATURE.length);
    h[12] = 0x20; // version 2, LOCAL
    return h;
  }

  /** An IPv4 address as 16 bytes, IPv4-mapped, for a header mixing the two families. */
  private static byte[] sixteen(InetAddress a) {
    byte[] raw = a.getAddress();
    if (raw.length == 16) {
      return raw;
    }
    byte[] mapped = new byte[16];
    mapped[10] = (byte) 0xFF;
    mapped[11] = (byte) 0xFF;
    System.arraycopy(raw, 0, mapped, 12, 4);
    return mapped;
  }

  private static String text(byte[] raw) {
    if (raw.length == 4) {
      return (raw[0] & 0xFF)
          + "."
          + (raw[1] & 0xFF)
          + "."
          + (raw[2] & 0xFF)
          + "."
          + (raw[3] & 0xFF);
    }
    StringBuilder sb = new StringBuilder(39);
    for (int i = 0; i < 16; i += 2) {
      if (i > 0) {
        sb.append(':');
      }
      sb.append(Integer.toHexString(((raw[i] & 0xFF) << 8) | (raw[i + 1] & 0xFF)));
    }
    return sb.toString();
  }

  private static InetSocketAddress socket(byte[] raw, int port) {
    try {
      InetAddress a = InetAddress.getByAddress(raw); // raw bytes: no lookup
      if (a instanceof Inet6Address && raw.length == 16 && isMapped(raw)) {
        a = InetAddress.getByAddress(Arrays.copyOfRange(raw, 12, 16));
      }
      return new InetSocketAddress(a, port);
    } catch (UnknownHostException e) {
      throw new AssertionError("4 or 16 bytes make an address", e);
    }
  }

  private static boolean isMapped(byte[] raw) {
    for (int i = 0; i < 10; i++) {
      if (raw[i] != 0) {
        return false;
      }
    }
    return raw[10] == (byte) 0xFF && raw[11] == (byte) 0xFF;
  }

  /** A decimal port, 0 to 65535, without sign or leading zero; -1 if it is not one. */
  static int port(String s) {
    if (s.isEmpty() || s.length() > 5 || (s.length() > 1 && s.charAt(0) == '0')) {
      return -1;
    }
    int v = 0;
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (c < '0' || c > '9') {
        return -1;
      }
      v = v * 10 + (c - '0');
    }
    return v <= 65535 ? v : -1;
  }

  /** Dotted-quad IPv4 (each part 0-255, no leading zero), or null. */
  static byte @Nullable [] ipv4(String s) {
    String[] parts = s.split("\\.", -1);
    if (parts.length != 4) {
      return null;
    }
    byte[] out = new byte[4];
    for (int i = 0; i < 4; i++) {
      int v = port(parts[i]);
      if (v < 0 || v > 255) {
        return null;
      }
      out[i] = (byte) v;
    }
    return out;
  }

  /**
   * RFC 4291 text form of an IPv6 address ({@code ::} and a trailing dotted quad allowed), or null.
   */
  static byte @Nullable [] ipv6(String s) {
    if (s.length() < 2 || s.length() > 45) {
      return null;
    }
    int gap = s.indexOf("::");
    if (gap >= 0 && s.indexOf("::", gap + 1) >= 0) {
      return null;
    }
    String head = gap >= 0 ? s.substring(0, gap) : s;
    String tail = gap >= 0 ? s.substring(gap + 2) : "";
    byte[] h = groups(head, gap < 0);
    byte[] t = gap >= 0 ? groups(tail, true) : new byte[0];
    if (h == null || t == null) {
      return null;
    }
    if (gap < 0 ? h.length != 16 : h.length + t.length > 14) {
      return null;
    }
    byte[] out = new byte[16];
    System.arraycopy(h, 0, out, 0, h.length);
    System.arraycopy(t, 0, out, 16 - t.length, t.length);
    return out;
  }

  /** Colon-separated hex groups, the last one maybe a dotted quad if {@code last}; or null. */
  private static byte @Nullable [] groups(String s, boolean last) {
    if (s.isEmpty()) {
      return new byte[0];
    }
    String[] g = s.split(":", -1);
    byte[] out = new byte[16];
    int n = 0;
    for (int i = 0; i < g.length; i++) {
      String part = g[i];
      if (last && i == g.length - 1 && part.indexOf('.') >= 0) {
        byte[] v4 = ipv4(part);
        if (v4 == null || n + 4 > 16) {
          return null;
        }
        System.arraycopy(v4, 0, out, n, 4);
        n += 4;
        continue;
      }
      if (part.isEmpty() || part.length() > 4 || n + 2 > 16) {
        return null;
      }
      int v = 0;
      for (int k = 0; k < part.length(); k++) {
        int d = Character.digit(part.charAt(k), 16);
        if (d < 0) {
          return null;
        }
        v = v * 16 + d;
      }
      out[n++] = (byte) (v >> 8);
      out[n++] = (byte) v;
    }
    return Arrays.copyOf(out, n);
  }

  /** At most 40 characters of {@code s}, non-printable ones as '?': for error messages. */
  private static String printable(String s) {
    StringBuilder sb = new StringBuilder();
    for (int i = 0; i < Math.min(40, s.length()); i++) {
      char c = s.charAt(i);
      sb.append(c >= 0x20 && c < 0x7F ? c : '?');
    }
    return sb.toString();
  }

  private static String hex(byte b) {
    return Integer.toHexString((b & 0xFF) | 0x100).substring(1);
  }
}
