package dev.meshlet.l4;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.jspecify.annotations.Nullable;

/**
 * Reads a TLS ClientHello without terminating TLS, as a pure function of the bytes a connection
 * began with: TLS records (RFC 8446 section 5.1), the handshake message reassembled across records
 * (a hello may be split in several), and in it the server name (RFC 6066) and ALPN (RFC 7301)
 * extensions. Any bytes give a {@link Verdict}; nothing here throws or loops on bad input.
 */
final class ClientHello {
  private static final int HANDSHAKE = 22;
  private static final int CLIENT_HELLO = 1;
  private static final int MAX_RECORD = 1 << 14;

  /** More records than a real hello is ever split into: a dribble of tiny ones is refused. */
  static final int MAX_RECORDS = 64;

  private static final int SERVER_NAME = 0;
  private static final int ALPN = 16;

  private ClientHello() {}

  /** What the bytes read so far say. */
  sealed interface Verdict {}

  /** Too few bytes: nothing can change before {@code atLeast} bytes are there. */
  record NeedMore(int atLeast) implements Verdict {}

  /** The first byte is not a TLS handshake record: some other protocol. */
  record NotTls() implements Verdict {}

  /** TLS, but broken: not a ClientHello, or one whose lengths do not add up. */
  record Invalid(String why) implements Verdict {}

  /**
   * A whole ClientHello.
   *
   * @param serverName the SNI host name, lower case without a trailing dot, or null if none was
   *     sent
   * @param alpn the ALPN protocols offered, in the client's order (empty if none)
   */
  record Hello(@Nullable String serverName, List<String> alpn) implements Verdict {}

  /** Reads the hello at the start of {@code b[0..len)}. */
  static Verdict parse(byte[] b, int len) {
    if (len == 0) {
      return new NeedMore(1);
    }
    if ((b[0] & 0xFF) != HANDSHAKE) {
      return new NotTls();
    }
    // the handshake message is at most as long as the bytes seen: reassembled into a copy
    byte[] hs = new byte[len];
    int hsLength = 0;
    int pos = 0;
    for (int records = 0; ; records++) {
      if (hsLength >= 4) {
        int msgLength = u24(hs, 1);
        if (hsLength >= 4 + msgLength) {
          return body(hs, 4, 4 + msgLength);
        }
      }
      if (records == MAX_RECORDS) {
        return new Invalid("ClientHello spread over more than " + MAX_RECORDS + " records");
      }
      if (len < pos + 5) {
        return new NeedMore(pos + 5);
      }
      int type = b[pos] & 0xFF;
      if (type != HANDSHAKE) {
        return new Invalid("record of type " + type + " before the ClientHello ended");
      }
      if ((b[pos + 1] & 0xFF) != 3) {
        return new Invalid("record version " + (b[pos + 1] & 0xFF) + "." + (b[pos + 2] & 0xFF));
      }
      int recordLength = u16(b, pos + 3);
      if (recordLength == 0 || recordLength > MAX_RECORD) {
        return new Invalid("record of " + recordLength + " bytes (expected: 1 to 16384)");
      }
      int end = pos + 5 + recordLength;
      if (len < end) {
        return new NeedMore(end);
      }
      System.arraycopy(b, pos + 5, hs, hsLength, recordLength);
      hsLength += recordLength;
      pos = end;
      if (hsLength >= 1 && (hs[0] & 0xFF) != CLIENT_HELLO) {
        return new Invalid("handshake message " + (hs[0] & 0xFF) + " (expected: 1, ClientHello)");
      }
    }
  }

  /** The ClientHello's body, {@code h[from..to)}. */
  private static Verdict body(byte[] h, int from, int to) {
    try {
      return fields(h, from, to);
    } catch (Malformed e) {
      return new Invalid(e.why);
    }
  }

  private static Hello fields(byte[] h, int from, int to) throws Malformed {
    int p = from + 2 + 32; // legacy_version, random
    need(p + 1, to, "random");
    p += 1 + (h[p] & 0xFF); // legacy_session_id
    need(p + 2, to, "session id");
    int suites = u16(h, p);
    if (suites < 2 || suites % 2 != 0) {
      throw new Malformed("cipher suites of " + suites + " bytes");
    }
    p += 2 + suites;
    need(p + 1, to, "cipher suites");
    p += 1 + (h[p] & 0xFF); // legacy_compression_methods
    need(p, to, "compression methods");
    if (p == to) {
      return new Hello(null, List.of()); // no extensions at all (an old client): no name
    }
    need(p + 2, to, "extensions length");
    int extEnd = p + 2 + u16(h, p);
    if (extEnd != to) {
      throw new Malformed(
          "extensions end at byte " + (extEnd - from) + ", the hello at " + (to - from));
    }
    p += 2;
    String name = null;
    List<String> alpn = List.of();
    boolean sawName = false;
    boolean sawAlpn = false;
    while (p < extEnd) {
      need(p + 4, extEnd, "extension header");
      int type = u16(h, p);
      int dataEnd = p + 4 + u16(h, p + 2);
      need(dataEnd, extEnd, "extension " + type);
      if (type == SERVER_NAME) {
        if (sawName) {
          throw new Malformed("two server_name extensions");
        }
        sawName = true;
        name = serverName(h, p + 4, dataEnd);
      } else if (type == ALPN) {
        if (sawAlpn) {
          throw new Malformed("two ALPN extensions");
        }
        sawAlpn = true;
        alpn = alpn(h, p + 4, dataEnd);
      }
      p = dataEnd;
    }
    return new Hello(name, alpn);
  }

  /** The host name in a server_name extension's data, or null if it names no host. */
  private static @Nullable String serverName(byte[] h, int p, int end) throws Malformed {
    if (p + 2 > end || p + 2 + u16(h, p) != end) {
      throw new Malformed("server_name list length does not match its extension");
    }
    p += 2;
    String host = null;
    while (p < end) {
      need(p + 3, end, "server_name entry");
      int nameType = h[p] & 0xFF;
      int nameEnd = p + 3 + u16(h, p + 1);
      need(nameEnd, end, "server name");
      if (nameType == 0) { // host_name; other types are ignored, as RFC 6066 allows
        if (host != null) {
          throw new Malformed("two host names in server_name");
        }
        host = hostName(h, p + 3, nameEnd);
      }
      p = nameEnd;
    }
    return host;
  }

  /** Lower case, without a trailing dot: letters, digits, '-', '_' and single dots only. */
  private static String hostName(byte[] h, int from, int to) throws Malformed {
    if (to > from && h[to - 1] == '.') {
      to--;
    }
    if (to <= from || to - from > 253) {
      throw new Malformed("server name of " + (to - from) + " bytes (expected: 1 to 253)");
    }
    char[] c = new char[to - from];
    for (int i = from; i < to; i++) {
      int v = h[i] & 0xFF;
      boolean ok =
          (v >= 'a' && v <= 'z')
              || (v >= 'A' && v <= 'Z')
              || (v >= '0' && v <= '9')
              || v == '-'
              || v == '_'
              || (v == '.' && i > from && h[i - 1] != '.');
      if (!ok) {
        throw new Malformed(
            "server name is not a host name (byte 0x" + Integer.toHexString(v) + ")");
      }
      c[i - from] = (char) v;
    }
    return new String(c).toLowerCase(Locale.ROOT);
  }

  /** The protocols in an ALPN extension's data. */
  private static List<String> alpn(byte[] h, int p, int end) throws Malformed {
    if (p + 2 > end || p + 2 + u16(h, p) != end) {
      throw new Malformed("ALPN list length does not match its extension");
    }
    p += 2;
    List<String> out = new ArrayList<>();
    while (p < end) {
      int n = h[p] & 0xFF;
      if (n == 0 || p + 1 + n > end) {
        throw new Malformed("ALPN protocol of " + n + " bytes past its list");
      }
      StringBuilder sb = new StringBuilder(n);
      for (int i = p + 1; i <= p + n; i++) {
        int v = h[i] & 0xFF;
        sb.append(v >= 0x20 && v < 0x7F ? (char) v : '?');
      }
      out.add(sb.toString());
      p += 1 + n;
    }
    return List.copyOf(out);
  }

  /** Throws unless {@code at <= end}: the field named ends within its container. */
  private static void need(int at, int end, String what) throws Malformed {
    if (at > end) {
      throw new Malformed("ClientHello cut short in its " + what);
    }
  }

  /** A length that does not add up; never leaves this class. */
  private static final class Malformed extends Exception {
    private static final long serialVersionUID = 1L;

    final String why;

    Malformed(String why) {
      super(why, null, false, false); // no stack trace: bad input is not a bug here
      this.why = why;
    }
  }

  private static int u16(byte[] b, int p) {
    return ((b[p] & 0xFF) << 8) | (b[p + 1] & 0xFF);
  }

  private static int u24(byte[] b, int p) {
    return ((b[p] & 0xFF) << 16) | ((b[p + 1] & 0xFF) << 8) | (b[p + 2] & 0xFF);
  }
}
