package dev.meshlet.l7;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.meshlet.core.Backend;
import dev.meshlet.core.Cluster;
import dev.meshlet.testkit.Await;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The sockets of a plain tunnel, which the splicer owns once the backend answered {@code 101}:
 * bytes each side sent along with the handshake come first, and a tunnel that ended leaves no
 * socket open on the proxy.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class TunnelSocketsTest extends ResilienceTestSupport {
  private static final String UPGRADE =
      "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n";

  /**
   * A raw backend: answers every upgrade with {@code 101} and {@code early} in the same write, then
   * echoes until the end of the proxy's stream, and closes.
   */
  static final class RawBackend implements AutoCloseable {
    final ServerSocket server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());

    /** The proxy's ports of the connections accepted. */
    final Set<Integer> peers = ConcurrentHashMap.newKeySet();

    private final Thread acceptor;

    RawBackend(String early) throws IOException {
      acceptor =
          Thread.ofVirtual()
              .name("raw-backend")
              .start(
                  () -> {
                    while (!server.isClosed()) {
                      try {
                        Socket s = server.accept();
                        peers.add(s.getPort());
                        Thread.ofVirtual().start(() -> serve(s, early));
                      } catch (IOException closed) {
                        return;
                      }
                    }
                  });
    }

    private static void serve(Socket s, String early) {
      try (s) {
        s.setSoTimeout(20_000);
        InputStream in = s.getInputStream();
        String head = readHead(in);
        OutputStream out = s.getOutputStream();
        if (!head.toLowerCase(Locale.ROOT).contains("upgrade: websocket")) {
          out.write(
              "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nplain"
                  .getBytes(StandardCharsets.US_ASCII));
          return;
        }
        out.write(
            ("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
                    + early)
                .getBytes(StandardCharsets.US_ASCII));
        out.flush();
        in.transferTo(out);
      } catch (IOException ignored) {
        // the proxy went away: nothing to echo to
      }
    }

    int port() {
      return server.getLocalPort();
    }

    @Override
    public void close() throws Exception {
      server.close();
      acceptor.join(10_000);
    }
  }

  @Test
  void bytesTheBackendSentWithItsSwitchingProtocolsReachTheClientFirst() throws Exception {
    RawBackend backend = resources.track(new RawBackend("early"));
    HttpProxy proxy = proxy(backend);
    try (Socket s = new Socket(InetAddress.getLoopbackAddress(), proxy.port())) {
      s.setSoTimeout(10_000);
      OutputStream out = s.getOutputStream();
      out.write(UPGRADE.getBytes(StandardCharsets.US_ASCII));
      out.flush();
      InputStream in = s.getInputStream();
      assertThat(readHead(in)).startsWith("HTTP/1.1 101");
      assertThat(new String(in.readNBytes(5), StandardCharsets.US_ASCII)).isEqualTo("early");
      out.write("ping".getBytes(StandardCharsets.US_ASCII));
      out.flush();
      assertThat(new String(in.readNBytes(4), StandardCharsets.US_ASCII)).isEqualTo("ping");
    }
    awaitNoTunnel(proxy);
  }

  @Test
  void aTunnelThatEndedLeavesNoSocketOpenOnTheProxy() throws Exception {
    assumeTrue(Files.isReadable(Path.of("/proc/net/tcp")), "needs Linux's /proc/net/tcp");
    RawBackend backend = resources.track(new RawBackend(""));
    HttpProxy proxy = proxy(backend);
    int clientPort;
    try (Socket s = new Socket(InetAddress.getLoopbackAddress(), proxy.port())) {
      s.setSoTimeout(10_000);
      clientPort = s.getLocalPort();
      OutputStream out = s.getOutputStream();
      out.write(UPGRADE.getBytes(StandardCharsets.US_ASCII));
      out.flush();
      InputStream in = s.getInputStream();
      assertThat(readHead(in)).startsWith("HTTP/1.1 101");
      out.write("ping".getBytes(StandardCharsets.US_ASCII));
      out.flush();
      assertThat(new String(in.readNBytes(4), StandardCharsets.US_ASCII)).isEqualTo("ping");
      s.shutdownOutput(); // the backend echoes the end of stream back: the tunnel ends closed
      assertThat(in.read()).isEqualTo(-1);
    }
    awaitNoTunnel(proxy);
    assertThat(backend.peers).hasSize(1);
    int towardsBackend = backend.peers.iterator().next();
    // a socket the proxy never closed would stay ESTABLISHED or CLOSE_WAIT: a leaked descriptor
    Await.until(
        "the proxy closed both sockets of the tunnel",
        () ->
            openSockets(proxy.port(), clientPort).isEmpty()
                && openSockets(towardsBackend, backend.port()).isEmpty());
    assertThat(proxy.stats().connections().active()).isZero();
    assertThat(proxy.tunnelStats("ws").opened()).isEqualTo(1);
  }

  @Test
  void theBackendConnectionOfAnOpenTunnelIsNotReusedForRequests() throws Exception {
    RawBackend backend = resources.track(new RawBackend(""));
    HttpProxy proxy = proxy(backend);
    try (Socket s = new Socket(InetAddress.getLoopbackAddress(), proxy.port())) {
      s.setSoTimeout(10_000);
      OutputStream out = s.getOutputStream();
      out.write(UPGRADE.getBytes(StandardCharsets.US_ASCII));
      out.flush();
      InputStream in = s.getInputStream();
      assertThat(readHead(in)).startsWith("HTTP/1.1 101");

      // were the tunnel's connection back in the pool, this request would go into the tunnel
      HttpResponse<String> plain =
          http.send(
              HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + proxy.port() + "/plain"))
                  .timeout(Duration.ofSeconds(10))
                  .build(),
              HttpResponse.BodyHandlers.ofString());
      assertThat(plain.statusCode()).isEqualTo(200);
      assertThat(plain.body()).isEqualTo("plain");
      assertThat(backend.peers).hasSize(2);

      out.write("ping".getBytes(StandardCharsets.US_ASCII));
      out.flush();
      assertThat(new String(in.readNBytes(4), StandardCharsets.US_ASCII)).isEqualTo("ping");
    }
    // the client's keep-alive connection stays open: only the tunnel ends
    Await.until("the tunnel ended", () -> proxy.tunnelStats("ws").open() == 0);
  }

  private HttpProxy proxy(RawBackend backend) throws Exception {
    return resources.track(
        HttpProxy.builder()
            .listen("127.0.0.1", 0)
            .route(r -> r.name("ws").to(Cluster.of("ws", Backend.of("127.0.0.1", backend.port()))))
            .start());
  }

  private static void awaitNoTunnel(HttpProxy proxy) {
    Await.until(
        "the tunnel ended and the proxy forgot its connection",
        () -> proxy.tunnelStats("ws").open() == 0 && proxy.stats().connections().active() == 0);
  }

  /**
   * The states (hex, as in {@code /proc/net/tcp}) of the IPv4 sockets from {@code local} to {@code
   * remote} on 127.0.0.1 that are ESTABLISHED (01) or CLOSE_WAIT (08).
   */
  private static List<String> openSockets(int local, int remote) {
    String from = String.format(Locale.ROOT, "0100007F:%04X", local);
    String to = String.format(Locale.ROOT, "0100007F:%04X", remote);
    try {
      return Files.readAllLines(Path.of("/proc/net/tcp")).stream()
          .skip(1)
          .map(line -> line.strip().split("\\s+"))
          .filter(f -> f.length > 3 && f[1].equals(from) && f[2].equals(to))
          .map(f -> f[3])
          .filter(state -> state.equals("01") || state.equals("08"))
          .toList();
    } catch (IOException e) {
      throw new IllegalStateException("/proc/net/tcp: " + e.getMessage(), e);
    }
  }

  private static String readHead(InputStream in) throws IOException {
    StringBuilder b = new StringBuilder();
    while (!b.toString().endsWith("\r\n\r\n")) {
      int c = in.read();
      if (c < 0) {
        break;
      }
      b.append((char) c);
    }
    return b.toString();
  }
}
