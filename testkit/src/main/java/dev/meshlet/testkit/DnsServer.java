package dev.meshlet.testkit;

import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import org.jspecify.annotations.Nullable;

/**
 * A DNS server for tests, on 127.0.0.1 (UDP and TCP on the same ephemeral port), answering A, AAAA
 * and SRV questions from records the test sets and changes while it runs. It can fail on purpose:
 * answer SERVFAIL, stay silent, or truncate its UDP answers so that the client must ask again over
 * TCP. Written from RFC 1035's wire format; no compression in answers except the question's name.
 */
public final class DnsServer implements AutoCloseable {
  /** How the server answers, whatever the records say. */
  public enum Mode {
    /** Answers from the records. */
    NORMAL,
    /** Answers SERVFAIL. */
    SERVFAIL,
    /** Does not answer at all. */
    SILENT,
    /** UDP answers are empty and truncated; TCP answers are whole. */
    TRUNCATE_UDP
  }

  /** One record: an address for A/AAAA, or an SRV record's fields. */
  public record Record(
      int type, long ttl, String address, int priority, int weight, int port, String target) {}

  private final DatagramSocket udp;
  private final ServerSocket tcp;
  private final Map<String, List<Record>> records = new ConcurrentHashMap<>();
  private final AtomicInteger questions = new AtomicInteger();
  private final Thread udpThread;
  private final Thread tcpThread;
  private volatile Mode mode = Mode.NORMAL;

  /** Starts a server on a free port of 127.0.0.1. */
  public DnsServer() throws IOException {
    InetAddress lo = InetAddress.getLoopbackAddress();
    Sockets bound = bind(lo);
    udp = bound.udp();
    tcp = bound.tcp();
    udpThread = Thread.ofPlatform().daemon().name("test-dns-udp").start(this::serveUdp);
    tcpThread = Thread.ofPlatform().daemon().name("test-dns-tcp").start(this::serveTcp);
  }

  private record Sockets(DatagramSocket udp, ServerSocket tcp) {}

  /** The same port for both: TCP's free port, then UDP on it, a few times if UDP's is taken. */
  private static Sockets bind(InetAddress lo) throws IOException {
    for (int i = 0; ; i++) {
      ServerSocket t = new ServerSocket(0, 50, lo);
      try {
        return new Sockets(new DatagramSocket(new InetSocketAddress(lo, t.getLocalPort())), t);
      } catch (IOException taken) {
        t.close();
        if (i == 20) {
          throw new IOException("no free port for both UDP and TCP", taken);
        }
      }
    }
  }

  /** The address to send questions to. */
  public InetSocketAddress address() {
    return new InetSocketAddress(InetAddress.getLoopbackAddress(), udp.getLocalPort());
  }

  /** Questions received so far, over UDP and TCP. */
  public int questions() {
    return questions.get();
  }

  /** Sets how the server answers from now on. */
  public void mode(Mode mode) {
    this.mode = mode;
  }

  /**
   * Replaces {@code name}'s A records with {@code ipv4} addresses, each with {@code ttl} seconds.
   */
  public void a(String name, long ttl, String... ipv4) throws IOException {
    set(name, 1, ttl, ipv4);
  }

  /** Replaces {@code name}'s AAAA records with {@code ipv6} addresses. */
  public void aaaa(String name, long ttl, String... ipv6) throws IOException {
    set(name, 28, ttl, ipv6);
  }

  /** Replaces {@code name}'s SRV records. */
  public void srv(String name, Record... srv) {
    List<Record> rest = new ArrayList<>(others(name, 33));
    rest.addAll(List.of(srv));
    records.put(key(name), rest);
  }

  /** An SRV record for {@link #srv}. */
  public static Record srvRecord(long ttl, int priority, int weight, int port, String target) {
    return new Record(33, ttl, "", priority, weight, port, target);
  }

  private void set(String name, int type, long ttl, String... addresses) throws IOException {
    List<Record> rest = new ArrayList<>(others(name, type));
    for (String a : addresses) {
      InetAddress.getByName(a); // a literal, checked here
      rest.add(new Record(type, ttl, a, 0, 0, 0, ""));
    }
    records.put(key(name), rest);
  }

  private List<Record> others(String name, int type) {
    return records.getOrDefault(key(name), List.of()).stream().filter(r -> r.type != type).toList();
  }

  private static String key(String name) {
    return name.toLowerCase(Locale.ROOT);
  }

  private void serveUdp() {
    byte[] buf = new byte[512];
    while (!udp.isClosed()) {
      try {
        DatagramPacket p = new DatagramPacket(buf, buf.length);
        udp.receive(p);
        questions.incrementAndGet();
        byte[] answer = answer(buf, p.getLength(), mode == Mode.TRUNCATE_UDP);
        if (answer != null) {
          udp.send(new DatagramPacket(answer, answer.length, p.getSocketAddress()));
        }
      } catch (IOException | RuntimeException e) {
        if (udp.isClosed()) {
          return;
        }
      }
    }
  }

  private void serveTcp() {
    while (!tcp.isClosed()) {
      try (Socket s = tcp.accept()) {
        DataInputStream in = new DataInputStream(s.getInputStream());
        byte[] q = new byte[in.readUnsignedShort()];
        in.readFully(q);
        questions.incrementAndGet();
        byte[] answer = answer(q, q.length, false);
        if (answer != null) {
          OutputStream out = s.getOutputStream();
          out.write(new byte[] {(byte) (answer.length >> 8), (byte) answer.length});
          out.write(answer);
          out.flush();
        }
      } catch (IOException | RuntimeException e) {
        if (tcp.isClosed()) {
          return;
        }
      }
    }
  }

  private byte @Nullable [] answer(byte[] q, int length, boolean truncate) {
    Mode m = mode;
    if (m == Mode.SILENT) {
      return null;
    }
    ByteBuffer in = ByteBuffer.wrap(q, 0, length);
    int id = in.getShort(0) & 0xffff;
    int p = 12;
    StringBuilder name = new StringBuilder();
    while (q[p] != 0) {
      if (name.length() > 0) {
        name.append('.');
      }
      name.append(new String(q, p + 1, q[p], StandardCharsets.US_ASCII));
      p += 1 + q[p];
    }
    int questionEnd = p + 5;
    int type = ((q[p + 1] & 0xff) << 8) | (q[p + 2] & 0xff);
    List<Record> matching =
        records.getOrDefault(key(name.toString()), List.of()).stream()
            .filter(r -> r.type == type)
            .toList();
    boolean known = records.containsKey(key(name.toString()));
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    int flags = 0x8180; // a response, recursion desired and available
    if (m == Mode.SERVFAIL) {
      flags |= 2;
    } else if (!known) {
      flags |= 3; // NXDOMAIN
    }
    if (truncate) {
      flags |= 0x0200;
    }
    boolean withAnswers = m != Mode.SERVFAIL && !truncate;
    int count = withAnswers ? matching.size() : 0;
    write16(out, id);
    write16(out, flags);
    write16(out, 1);
    write16(out, count);
    write16(out, 0);
    write16(out, 0);
    out.write(q, 12, questionEnd - 12);
    for (int i = 0; i < count; i++) {
      Record r = matching.get(i);
      write16(out, 0xc00c); // the question's name
      write16(out, r.type);
      write16(out, 1);
      write16(out, (int) (r.ttl >> 16));
      write16(out, (int) r.ttl);
      if (r.type == 33) {
        byte[] target = encodeName(r.target);
        write16(out, 6 + target.length);
        write16(out, r.priority);
        write16(out, r.weight);
        write16(out, r.port);
        out.write(target, 0, target.length);
      } else {
        byte[] raw = raw(r.address);
        write16(out, raw.length);
        out.write(raw, 0, raw.length);
      }
    }
    return out.toByteArray();
  }

  private static byte[] raw(String literal) {
    try {
      return InetAddress.getByName(literal).getAddress();
    } catch (IOException e) {
      throw new IllegalStateException(e);
    }
  }

  private static byte[] encodeName(String name) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    if (!name.isEmpty() && !name.equals(".")) {
      for (String label : name.split("\\.")) {
        byte[] l = label.getBytes(StandardCharsets.US_ASCII);
        out.write(l.length);
        out.write(l, 0, l.length);
      }
    }
    out.write(0);
    return out.toByteArray();
  }

  private static void write16(ByteArrayOutputStream out, int v) {
    out.write((v >> 8) & 0xff);
    out.write(v & 0xff);
  }

  @Override
  public void close() throws IOException {
    udp.close();
    tcp.close();
    try {
      udpThread.join(2_000);
      tcpThread.join(2_000);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
