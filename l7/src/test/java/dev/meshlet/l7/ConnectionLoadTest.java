package dev.meshlet.l7;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.meshlet.core.Cluster;
import dev.meshlet.testkit.Await;
import dev.meshlet.testkit.NoLeakedThreads;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import org.eclipse.jetty.io.Content;
import org.eclipse.jetty.util.Callback;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

/** Many connections at once: connect bursts, slowloris and slow bodies, the connection limit. */
@ExtendWith(NoLeakedThreads.class)
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class ConnectionLoadTest {
  private static final byte[] GET =
      "GET /load HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"
          .getBytes(StandardCharsets.US_ASCII);

  private static TestBackend backend;
  private HttpProxy proxy;

  @BeforeAll
  static void startBackend() throws Exception {
    // reads a request body whole before answering, as an upload endpoint does
    backend =
        TestBackend.with(
            "sink",
            (request, response, callback) -> {
              Content.Source.consumeAll(
                  request,
                  Callback.from(
                      () ->
                          response.write(
                              true,
                              ByteBuffer.wrap("ok".getBytes(StandardCharsets.US_ASCII)),
                              callback),
                      callback::failed));
              return true;
            });
  }

  @AfterAll
  static void stopBackend() throws Exception {
    backend.close();
  }

  @AfterEach
  void stopProxy() {
    if (proxy != null) {
      proxy.close();
    }
  }

  @Test
  void aBurstOf2000ConnectionsIsAnsweredWithin2Seconds() throws Exception {
    int n = assumeDescriptorsFor(2000);
    proxy =
        HttpProxy.builder()
            .listen("127.0.0.1", 0)
            .maxPendingRequestsPerBackend(
                n) // the burst tests the listener, not the backend's circuit breaker
            .defaultRoute(Cluster.of("sink", backend.backend()))
            .start();
    // an untimed burst first: the JIT compiles the accept and request path, the backend pool fills
    assertThat(burst(proxy.port(), n, Duration.ofSeconds(20)).answered())
        .as("warm-up burst answered")
        .isEqualTo(n);
    long start = System.nanoTime();
    Burst b = burst(proxy.port(), n, Duration.ofSeconds(20));
    Duration took = Duration.ofNanos(System.nanoTime() - start);
    assertThat(b.ok()).as("connections answered 200").isEqualTo(n);
    assertThat(took)
        .as("the whole burst, from the first connect to the last 200")
        .isLessThan(Duration.ofSeconds(2));
  }

  /**
   * With the defaults, 2,000 requests at once to one backend exceed its 64 connections and 1,024
   * waiting requests: the rest get the circuit breaker's prompt 503, none is left unanswered.
   */
  @Test
  void aBurstOf2000ConnectionsWithTheDefaultsGetsEveryAnswerWithin2Seconds() throws Exception {
    int n = assumeDescriptorsFor(2000);
    proxy =
        HttpProxy.builder()
            .listen("127.0.0.1", 0)
            .defaultRoute(Cluster.of("sink", backend.backend()))
            .start();
    assertThat(burst(proxy.port(), n, Duration.ofSeconds(20)).answered())
        .as("warm-up burst answered")
        .isEqualTo(n);
    long start = System.nanoTime();
    Burst b = burst(proxy.port(), n, Duration.ofSeconds(20));
    Duration took = Duration.ofNanos(System.nanoTime() - start);
    assertThat(b.answered()).as("connections answered").isEqualTo(n);
    assertThat(b.ok()).as("connections answered 200").isGreaterThanOrEqualTo(64 + 1024);
    assertThat(took)
        .as("the whole burst, from the first connect to the last answer")
        .isLessThan(Duration.ofSeconds(2));
  }

  private static int assumeDescriptorsFor(int n) {
    long softLimit = openFileLimit();
    assumeTrue(
        softLimit < 0 || softLimit >= 3L * n,
        "ulimit -n is "
            + softLimit
            + ": a burst of "
            + n
            + " needs about "
            + 3 * n
            + " file descriptors");
    return n;
  }

  @Test
  void normalRequestsAreAnsweredPromptlyWhileSlowClientsHoldConnections() throws Exception {
    proxy =
        HttpProxy.builder()
            .listen("127.0.0.1", 0)
            .requestHeadTimeout(Duration.ofSeconds(60)) // the attack holds for the whole test
            .defaultRoute(Cluster.of("sink", backend.backend()))
            .start();
    List<Socket> slow = new ArrayList<>();
    Thread trickle = null;
    try {
      long opening = System.nanoTime();
      for (int i = 0; i < 300; i++) { // slowloris: a partial head
        slow.add(open(proxy.port(), "GET /loris HTTP/1.1\r\nHost: h\r\nX-Slow: "));
      }
      for (int i = 0; i < 50; i++) { // slow bodies: a complete head, then the body a byte at a time
        slow.add(
            open(
                proxy.port(),
                "POST /upload HTTP/1.1\r\nHost: h\r\nContent-Length: 100000\r\n\r\n"));
      }
      assertThat(Duration.ofNanos(System.nanoTime() - opening))
          .as("opening 350 slow connections")
          .isLessThan(Duration.ofSeconds(2));
      trickle =
          Thread.ofVirtual()
              .start(
                  () -> {
                    while (!Thread.currentThread().isInterrupted()) {
                      for (Socket s : slow) {
                        try {
                          s.getOutputStream().write('a');
                        } catch (IOException closed) {
                          // counted below: every slow connection must still be open at the end
                        }
                      }
                      LockSupport.parkNanos(TimeUnit.SECONDS.toNanos(1)); // the attackers' pace
                    }
                  });
      Await.until("the slow bodies reach the backend", () -> backend.requests.size() >= 50);
      for (int i = 0; i < 100; i++) {
        long t0 = System.nanoTime();
        try (Socket s = new Socket("127.0.0.1", proxy.port())) {
          s.setSoTimeout(2000);
          s.getOutputStream().write(GET);
          Raw.Reply r = Raw.parse(Raw.readAll(s.getInputStream()));
          assertThat(r.status()).as("normal request %d", i).isEqualTo(200);
        }
        assertThat(Duration.ofNanos(System.nanoTime() - t0))
            .as("normal request %d", i)
            .isLessThan(Duration.ofSeconds(2));
      }
      for (Socket s : slow) {
        s.setSoTimeout(1);
        try {
          assertThat(s.getInputStream().read())
              .as("a slow connection got an answer or was closed")
              .isEqualTo(-2);
        } catch (SocketTimeoutException stillOpen) {
          // held open, unanswered: the attack held all along
        }
      }
    } finally {
      if (trickle != null) {
        trickle.interrupt();
        trickle.join();
      }
      for (Socket s : slow) {
        s.close();
      }
    }
  }

  /**
   * At maxConnections a new client connects (into the backlog) but gets no answer until a slot
   * frees.
   */
  @Test
  void atMaxConnectionsANewClientWaitsUnansweredUntilAConnectionCloses() throws Exception {
    proxy =
        HttpProxy.builder()
            .listen("127.0.0.1", 0)
            .maxConnections(1)
            .defaultRoute(Cluster.of("sink", backend.backend()))
            .start();
    try (Socket first = new Socket("127.0.0.1", proxy.port());
        Socket waiting = new Socket("127.0.0.1", proxy.port())) {
      first
          .getOutputStream()
          .write("GET /first HTTP/1.1\r\nHost: h\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
      assertThat(Raw.readResponses(first.getInputStream(), 1)).startsWith("HTTP/1.1 200");
      Await.until(
          "the limit reached",
          () -> proxy.stats().total().errors(HttpProxyStats.ErrorKind.CONNECTION_LIMIT) >= 1);
      waiting.getOutputStream().write(GET);
      waiting.setSoTimeout(500);
      try {
        int b = waiting.getInputStream().read();
        assertThat(b)
            .as("a client past the limit must get no answer while the limit holds")
            .isEqualTo(-2);
      } catch (SocketTimeoutException expected) {
        // connected, unanswered
      }
      first.close();
      waiting.setSoTimeout(20_000);
      assertThat(Raw.parse(Raw.readAll(waiting.getInputStream())).status()).isEqualTo(200);
    }
  }

  private static Socket open(int port, String head) throws IOException {
    Socket s = new Socket("127.0.0.1", port);
    OutputStream out = s.getOutputStream();
    out.write(head.getBytes(StandardCharsets.US_ASCII));
    out.flush();
    return s;
  }

  /** The soft limit on open files of this process, or -1 when it cannot be read. */
  static long openFileLimit() {
    try {
      for (String line : Files.readAllLines(Path.of("/proc/self/limits"))) {
        if (line.startsWith("Max open files")) {
          return Long.parseLong(line.substring(26).trim().split("\\s+")[0]);
        }
      }
    } catch (IOException | RuntimeException e) {
      // not Linux: assume enough
    }
    return -1;
  }

  /**
   * Connects {@code n} clients at once (non-blocking connects, one thread), each sends one GET and
   * reads its status line within {@code limit}.
   */
  static Burst burst(int port, int n, Duration limit) throws IOException {
    InetSocketAddress to = new InetSocketAddress("127.0.0.1", port);
    long deadline = System.nanoTime() + limit.toNanos();
    int ok = 0;
    int answered = 0;
    int done = 0;
    List<SocketChannel> all = new ArrayList<>(n);
    try (Selector selector = Selector.open()) {
      for (int i = 0; i < n; i++) {
        SocketChannel ch = SocketChannel.open();
        all.add(ch);
        ch.configureBlocking(false);
        boolean connected = ch.connect(to);
        ch.register(
            selector,
            connected ? SelectionKey.OP_WRITE : SelectionKey.OP_CONNECT,
            new ByteBuffer[] {ByteBuffer.wrap(GET), ByteBuffer.allocate(64)});
      }
      while (done < n && System.nanoTime() < deadline) {
        selector.select(50);
        for (SelectionKey key : selector.selectedKeys()) {
          SocketChannel ch = (SocketChannel) key.channel();
          ByteBuffer[] io = (ByteBuffer[]) key.attachment();
          try {
            if (key.isConnectable() && ch.finishConnect()) {
              key.interestOps(SelectionKey.OP_WRITE);
            } else if (key.isWritable()) {
              ch.write(io[0]);
              if (!io[0].hasRemaining()) {
                key.interestOps(SelectionKey.OP_READ);
              }
            } else if (key.isReadable()) {
              int r = ch.read(io[1]);
              String got =
                  new String(io[1].array(), 0, io[1].position(), StandardCharsets.US_ASCII);
              if (r < 0 || got.contains("\r\n") || !io[1].hasRemaining()) {
                if (got.startsWith("HTTP/1.1 200 ")) {
                  ok++;
                }
                if (got.startsWith("HTTP/1.1 ")) {
                  answered++;
                }
                done++;
                key.cancel();
                ch.close();
              }
            }
          } catch (IOException failed) {
            done++;
            key.cancel();
            ch.close();
          }
        }
        selector.selectedKeys().clear();
      }
    } finally {
      for (SocketChannel ch : all) {
        ch.close();
      }
    }
    return new Burst(ok, answered);
  }

  /** How many connections of a burst got 200, and how many got any answer. */
  record Burst(int ok, int answered) {}
}
