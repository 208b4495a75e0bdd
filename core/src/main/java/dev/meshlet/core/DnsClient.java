package dev.meshlet.core;

import java.io.DataInputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.BufferUnderflowException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.ThreadLocalRandom;
import org.jspecify.annotations.Nullable;

/**
 * A stub resolver for the three record types discovery needs (A, AAAA, SRV), asking one server: the
 * JDK's resolver hides the records' TTLs, which re-resolution must honour. A query goes over UDP,
 * again over TCP when the answer comes back truncated; each try has the timeout given and a lost
 * datagram is asked for once more. Answers are checked (id, question, lengths, compression
 * pointers) before anything in them is believed.
 */
final class DnsClient {
  static final int A = 1;
  static final int CNAME = 5;
  static final int AAAA = 28;
  static final int SRV = 33;

  private static final int MAX_UDP = 4096;
  private static final int MAX_POINTER_JUMPS = 16;

  private final InetSocketAddress server;
  private final int timeoutMillis;

  DnsClient(InetSocketAddress server, Duration timeout) {
    this.server = server;
    this.timeoutMillis = (int) Math.max(1, Math.min(Integer.MAX_VALUE, timeout.toMillis()));
  }

  /** One answer record; {@code address} for A/AAAA, {@code target}/{@code port} for SRV. */
  record Rr(
      int type,
      long ttlSeconds,
      @Nullable InetAddress address,
      String target,
      int port,
      int priority,
      int weight) {}

  /**
   * A lookup that got no usable answer: the server failed, refused, timed out or spoke nonsense.
   */
  static final class DnsException extends IOException {
    private static final long serialVersionUID = 1L;

    DnsException(String message) {
      super(message);
    }
  }

  /**
   * The records of {@code type} for {@code name}, CNAME chains followed by the server; each
   * record's TTL is the smallest along its chain. An empty list is an answer with no such record
   * (NXDOMAIN or no data).
   */
  List<Rr> query(String name, int type) throws IOException {
    int id = ThreadLocalRandom.current().nextInt(0x10000);
    byte[] query = encode(id, name, type);
    byte[] answer;
    try {
      answer = overUdp(query);
    } catch (SocketTimeoutException first) {
      try {
        answer = overUdp(query); // one datagram lost: once more, then the timeout stands
      } catch (SocketTimeoutException second) {
        throw new DnsException(
            "no answer from " + server + " within " + timeoutMillis + " ms, twice");
      }
    }
    if ((answer[2] & 0x02) != 0) {
      answer = overTcp(query); // truncated: the whole answer over TCP
    }
    return decode(answer, id, name, type);
  }

  private byte[] overUdp(byte[] query) throws IOException {
    try (DatagramSocket socket = new DatagramSocket()) {
      socket.setSoTimeout(timeoutMillis);
      socket.connect(server);
      socket.send(new DatagramPacket(query, query.length));
      byte[] buf = new byte[MAX_UDP];
      long deadline = System.nanoTime() + timeoutMillis * 1_000_000L;
      while (true) {
        DatagramPacket p = new DatagramPacket(buf, buf.length);
        socket.receive(p);
        // a stray datagram (an old query's late answer) is skipped, not believed
        if (p.getLength() >= 12 && buf[0] == query[0] && buf[1] == query[1]) {
          byte[] out = new byte[p.getLength()];
          System.arraycopy(buf, 0, out, 0, out.length);
          return out;
        }
        long left = (deadline - System.nanoTime()) / 1_000_000L;
        if (left <= 0) {
          throw new SocketTimeoutException("no answer from " + server);
        }
        socket.setSoTimeout((int) left);
      }
    }
  }

  private byte[] overTcp(byte[] query) throws IOException {
    try (Socket s = new Socket()) {
      s.connect(server, timeoutMillis);
      s.setSoTimeout(timeoutMillis);
      OutputStream out = s.getOutputStream();
      byte[] framed = new byte[query.length + 2];
      framed[0] = (byte) (query.length >> 8);
      framed[1] = (byte) query.length;
      System.arraycopy(query, 0, framed, 2, query.length);
      out.write(framed);
      out.flush();
      DataInputStream in = new DataInputStream(s.getInputStream());
      int length = in.readUnsignedShort();
      if (length < 12) {
        throw new DnsException("a TCP answer of " + length + " bytes from " + server);
      }
      byte[] answer = new byte[length];
      in.readFully(answer);
      return answer;
    }
  }

  static byte[] encode(int id, String name, int type) {
    ByteBuffer b = ByteBuffer.allocate(12 + name.length() + 2 + 4);
    b.putShort((short) id).putShort((short) 0x0100).putShort((short) 1); // RD, one question
    b.putShort((short) 0).putShort((short) 0).putShort((short) 0);
    for (String label : labels(name)) {
      byte[] l = label.getBytes(StandardCharsets.US_ASCII);
      b.put((byte) l.length).put(l);
    }
    b.put((byte) 0).putShort((short) type).putShort((short) 1); // class IN
    return b.array();
  }

  /** The name's labels; each 1 to 63 ASCII characters, 253 in all. */
  static List<String> labels(String name) {
    String n = name.endsWith(".") ? name.substring(0, name.length() - 1) : name;
    if (n.isEmpty() || n.length() > 253) {
      throw new IllegalArgumentException(
          "DNS name: '" + name + "' (expected: 1 to 253 characters)");
    }
    List<String> out = new ArrayList<>();
    for (String label : n.split("\\.", -1)) {
      if (label.isEmpty()
          || label.length() > 63
          || !StandardCharsets.US_ASCII.newEncoder().canEncode(label)) {
        throw new IllegalArgumentException(
            "DNS name: '" + name + "' (expected: ASCII labels of 1 to 63 characters)");
      }
      out.add(label);
    }
    return out;
  }

  static List<Rr> decode(byte[] m, int id, String name, int type) throws DnsException {
    try {
      ByteBuffer b = ByteBuffer.wrap(m);
      if (b.getShort(0) != (short) id) {
        throw new DnsException("an answer for another query");
      }
      int flags = b.getShort(2) & 0xffff;
      int rcode = flags & 0xf;
      if ((flags & 0x8000) == 0) {
        throw new DnsException("a query, not an answer");
      }
      if (rcode == 3) {
        return List.of(); // NXDOMAIN: the name has no records
      }
      if (rcode != 0) {
        throw new DnsException("the server answered " + rcodeName(rcode));
      }
      int questions = b.getShort(4) & 0xffff;
      int answers = b.getShort(6) & 0xffff;
      int authority = b.getShort(8) & 0xffff;
      int additional = b.getShort(10) & 0xffff;
      int[] pos = {12};
      for (int i = 0; i < questions; i++) {
        String q = readName(m, pos);
        if (i == 0 && !q.equalsIgnoreCase(strip(name))) {
          throw new DnsException("an answer about " + q + ", not " + name);
        }
        pos[0] += 4;
      }
      List<Rr> out = new ArrayList<>();
      long chainTtl = Long.MAX_VALUE;
      int records = answers + authority + additional;
      for (int i = 0; i < records; i++) {
        String owner = readName(m, pos);
        int rrType = u16(m, pos[0]);
        long ttl = u32(m, pos[0] + 4);
        int length = u16(m, pos[0] + 8);
        int rdata = pos[0] + 10;
        if (rdata + length > m.length) {
          throw new DnsException("a record longer than its answer");
        }
        pos[0] = rdata + length;
        if (i >= answers) {
          continue; // authority and additional records: not the answer
        }
        if (rrType == CNAME) {
          chainTtl = Math.min(chainTtl, ttl);
        } else if (rrType == type && (type == A && length == 4 || type == AAAA && length == 16)) {
          byte[] raw = new byte[length];
          System.arraycopy(m, rdata, raw, 0, length);
          out.add(new Rr(type, ttl, InetAddress.getByAddress(owner, raw), "", 0, 0, 0));
        } else if (rrType == type && type == SRV && length >= 7) {
          int[] at = {rdata + 6};
          String target = readName(m, at);
          out.add(
              new Rr(SRV, ttl, null, target, u16(m, rdata + 4), u16(m, rdata), u16(m, rdata + 2)));
        }
      }
      if (chainTtl != Long.MAX_VALUE) {
        List<Rr> capped = new ArrayList<>(out.size());
        for (Rr r : out) {
          capped.add(
              new Rr(
                  r.type(),
                  Math.min(r.ttlSeconds(), chainTtl),
                  r.address(),
                  r.target(),
                  r.port(),
                  r.priority(),
                  r.weight()));
        }
        return capped;
      }
      return out;
    } catch (IndexOutOfBoundsException | BufferUnderflowException | IOException e) {
      if (e instanceof DnsException d) {
        throw d;
      }
      throw new DnsException("a malformed answer (" + e.getClass().getSimpleName() + ")");
    }
  }

  private static String readName(byte[] m, int[] pos) throws DnsException {
    StringBuilder sb = new StringBuilder();
    int p = pos[0];
    int jumps = 0;
    int end = -1;
    while (true) {
      int len = m[p] & 0xff;
      if ((len & 0xc0) == 0xc0) {
        if (++jumps > MAX_POINTER_JUMPS) {
          throw new DnsException("a name whose compression pointers loop");
        }
        if (end < 0) {
          end = p + 2;
        }
        p = ((len & 0x3f) << 8) | (m[p + 1] & 0xff);
        continue;
      }
      if ((len & 0xc0) != 0) {
        throw new DnsException("a name with an unknown label type");
      }
      if (len == 0) {
        pos[0] = end < 0 ? p + 1 : end;
        return sb.toString();
      }
      if (sb.length() > 0) {
        sb.append('.');
      }
      if (sb.length() + len > 255) {
        throw new DnsException("a name longer than 255 characters");
      }
      sb.append(new String(m, p + 1, len, StandardCharsets.ISO_8859_1));
      p += 1 + len;
    }
  }

  private static int u16(byte[] m, int at) {
    return ((m[at] & 0xff) << 8) | (m[at + 1] & 0xff);
  }

  private static long u32(byte[] m, int at) {
    long v = ((long) (m[at] & 0xff) << 24) | (u16(m, at + 1) << 8) | (m[at + 3] & 0xff);
    return v > Integer.MAX_VALUE ? 0 : v; // RFC 2181: a TTL with the top bit set means zero
  }

  private static String strip(String name) {
    return (name.endsWith(".") ? name.substring(0, name.length() - 1) : name)
        .toLowerCase(Locale.ROOT);
  }

  private static String rcodeName(int rcode) {
    return switch (rcode) {
      case 1 -> "FORMERR";
      case 2 -> "SERVFAIL";
      case 4 -> "NOTIMP";
      case 5 -> "REFUSED";
      default -> "RCODE " + rcode;
    };
  }
}
