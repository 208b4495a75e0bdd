package dev.meshlet.l4;

import dev.meshlet.core.Cluster;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.util.Arrays;
import org.jspecify.annotations.Nullable;

/**
 * What a client sent before its backend is chosen, read on the connection's own thread: the PROXY
 * header (which gives the client's address) and the ClientHello (whose server name picks the
 * cluster). It owns the bytes read past the header, which the backend gets first, untouched. A
 * client that sends a bad header or hello, or none in time, ends the connection here with its
 * cause; the acceptor never waits on it.
 */
final class Preface {
  /**
   * Enough for a PROXY header and a typical ClientHello (about 2 KiB with a post-quantum share).
   */
  private static final int INITIAL = 4096;

  private final Connection connection;
  private final SocketChannel client;
  private final Opening opening;
  private final Counters counters;

  /** Grown as bytes arrive, up to the opening's capacity: most hellos are a fraction of it. */
  private byte[] buf;

  private int len;

  /** The client's address: the PROXY header's source, or the socket's peer. */
  InetSocketAddress source;

  /** The address the client connected to: the PROXY header's, or the socket's own. */
  InetSocketAddress destination;

  /** The cluster the ClientHello routed to, or null for the default one. */
  @Nullable Cluster routed;

  Preface(
      Connection connection,
      SocketChannel client,
      Opening opening,
      Counters counters,
      InetSocketAddress source,
      InetSocketAddress destination) {
    this.connection = connection;
    this.client = client;
    this.opening = opening;
    this.counters = counters;
    this.buf = new byte[Math.min(INITIAL, opening.capacity())];
    this.source = source;
    this.destination = destination;
  }

  /** Reads what the opening asks for; false if the connection was ended (with its cause). */
  boolean read() {
    try {
      if (opening.proxyIn() && !readProxyHeader()) {
        return false;
      }
      return opening.sni() == null || readHello(opening.sni());
    } catch (IOException | RuntimeException e) { // ended by the deadline, or the client reset
      if (!connection.isClosing()) {
        connection.end(Cause.RESET, Cause.RESET.label() + " before the backend was chosen", true);
      }
      return false;
    }
  }

  /** The bytes read past the PROXY header, to be sent to the backend first. */
  ByteBuffer leftover() {
    return ByteBuffer.wrap(buf, 0, len);
  }

  private boolean readProxyHeader() throws IOException {
    if (!opening.trustedFronts().isEmpty() && !trusted()) {
      return reject(
          "proxy header: " + source.getAddress().getHostAddress() + " is no trusted front");
    }
    connection.expect(Cause.PROXY_HEADER, opening.timeoutNanos());
    while (true) {
      ProxyHeader.Verdict v = ProxyHeader.parse(buf, len);
      if (v instanceof ProxyHeader.Header h) {
        if (h.source() != null && h.destination() != null) {
          source = h.source();
          destination = h.destination();
        }
        shift(h.length());
        return true;
      }
      if (v instanceof ProxyHeader.Invalid x) {
        return reject("proxy header: " + x.why());
      }
      int atLeast = ((ProxyHeader.NeedMore) v).atLeast();
      if (atLeast > Opening.MAX_PROXY_HEADER) {
        return reject(
            "proxy header: " + atLeast + " bytes (limit: " + Opening.MAX_PROXY_HEADER + ")");
      }
      if (!fill(Opening.MAX_PROXY_HEADER)) {
        return reject("proxy header: end of stream after " + len + " bytes");
      }
    }
  }

  private boolean trusted() {
    for (Cidr c : opening.trustedFronts()) {
      if (c.contains(source.getAddress())) {
        return true;
      }
    }
    return false;
  }

  private boolean readHello(SniRoutes sni) throws IOException {
    connection.expect(Cause.HELLO, opening.timeoutNanos());
    while (true) {
      ClientHello.Verdict v = ClientHello.parse(buf, len);
      switch (v) {
        case ClientHello.Hello h -> {
          String name = h.serverName();
          if (name == null) {
            counters.helloNoServerName.increment();
            return fallBack(sni, "client hello: no server name");
          }
          routed = sni.match(name);
          (routed != null ? counters.helloRouted : counters.helloDefaulted).increment();
          return true;
        }
        case ClientHello.NotTls n -> {
          counters.helloNotTls.increment();
          return fallBack(sni, "client hello: not TLS");
        }
        case ClientHello.Invalid x -> {
          counters.helloInvalid.increment();
          return end(Cause.HELLO, "client hello: " + x.why());
        }
        case ClientHello.NeedMore m -> {
          if (m.atLeast() > opening.maxHello()) {
            counters.helloTooLarge.increment();
            return end(
                Cause.HELLO, "client hello: over " + opening.maxHello() + " bytes (maxHelloSize)");
          }
          if (!fill(opening.maxHello())) {
            counters.helloInvalid.increment();
            return end(Cause.HELLO, "client hello: end of stream after " + len + " bytes");
          }
        }
      }
    }
  }

  /** No name to route by: the default cluster, unless such connections are to be closed. */
  private boolean fallBack(SniRoutes sni, String why) {
    if (sni.closeWithoutServerName()) {
      return end(Cause.HELLO, why);
    }
    counters.helloDefaulted.increment();
    return true;
  }

  private boolean reject(String why) {
    counters.proxyHeaderRejected.increment();
    return end(Cause.PROXY_HEADER, why);
  }

  private boolean end(Cause cause, String why) {
    connection.end(cause, why, false);
    return false;
  }

  /** Reads once more, up to {@code limit} bytes in all; false at end of stream. */
  private boolean fill(int limit) throws IOException {
    int cap = Math.min(limit, opening.capacity());
    if (len == buf.length && buf.length < cap) {
      buf = Arrays.copyOf(buf, Math.min(cap, 2 * buf.length));
    }
    int n = client.read(ByteBuffer.wrap(buf, len, Math.min(cap, buf.length) - len));
    if (n < 0) {
      return false;
    }
    len += n;
    connection.activity++;
    return true;
  }

  /** Drops the first {@code n} bytes (the PROXY header): the hello, if any, starts at 0. */
  private void shift(int n) {
    System.arraycopy(buf, n, buf, 0, len - n);
    len -= n;
  }
}
