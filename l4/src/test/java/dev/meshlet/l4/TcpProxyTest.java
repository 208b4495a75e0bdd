package dev.meshlet.l4;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.meshlet.testkit.Await;
import dev.meshlet.testkit.EchoServer;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.Socket;
import java.net.SocketException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Bytes through the TCP proxy: exact transfers, buffers, half-close, resets and backpressure. */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class TcpProxyTest extends TcpProxyTestSupport {
  @Test
  void transfers64MiBBothWaysAtOnceByteExact() throws Exception {
    TcpProxy proxy = start(proxyTo(echo()));
    Socket client = connect(proxy);
    int size = 64 * 1024 * 1024;
    echoRoundTrip(client, size);
    client
        .shutdownOutput(); // the echo backend then ends its side: the client sees the end of stream
    assertThat(client.getInputStream().read()).isEqualTo(-1);
    Await.until("bytes counted", () -> proxy.stats().bytesDownstream() == size);
    assertThat(proxy.stats().bytesUpstream()).isEqualTo(size);
    assertThat(proxy.cluster().endpoints().get(0).stats().bytesIn()).isEqualTo(size);
  }

  /**
   * Writes {@code size} random bytes to the echo backend through {@code client}, reads them back,
   * keeps it open.
   */
  private static void echoRoundTrip(Socket client, int size) throws Exception {
    MessageDigest sent = MessageDigest.getInstance("SHA-256");
    MessageDigest received = MessageDigest.getInstance("SHA-256");
    Future<?> writer =
        CompletableFuture.runAsync(
            () -> {
              try {
                Random random = new Random(7);
                byte[] chunk = new byte[256 * 1024];
                for (int sentBytes = 0; sentBytes < size; sentBytes += chunk.length) {
                  random.nextBytes(chunk);
                  sent.update(chunk);
                  client.getOutputStream().write(chunk);
                }
              } catch (IOException e) {
                throw new RuntimeException(e);
              }
            });
    byte[] buf = new byte[64 * 1024];
    InputStream in = client.getInputStream();
    long total = 0;
    while (total < size) {
      int n = in.read(buf);
      assertThat(n).as("end of stream after %d of %d bytes", total, size).isPositive();
      received.update(buf, 0, n);
      total += n;
    }
    writer.get();
    assertThat(received.digest()).isEqualTo(sent.digest());
  }

  @Test
  void burstBuffersGoBackOnceTheConnectionIsIdle() throws Exception {
    TcpProxy proxy = start(proxyTo(echo()));
    Socket client = connect(proxy);
    echoRoundTrip(client, 16 * 1024 * 1024);
    // the connection stays open and idle: both directions park on their 512-byte buffers, nothing
    // lent
    Await.until("buffers returned", () -> proxy.stats().bufferBytes() == 0);
    assertThat(proxy.stats().active()).isEqualTo(1);
    assertThat(proxy.stats().bufferLimitHits()).isZero();
    assertThat(proxy.pool().largestLent())
        .isGreaterThanOrEqualTo(64 * 1024); // the burst did borrow
    echoRoundTrip(client, 1024 * 1024); // and the connection still works
  }

  @Test
  void aMessageThatExactlyFillsTheReadBufferLeavesNothingBorrowed() throws Exception {
    TcpProxy proxy = start(proxyTo(echo()));
    Socket client = connect(proxy);
    byte[] message = new byte[ReadBuffers.SMALL];
    Arrays.fill(message, (byte) 'm');
    client.getOutputStream().write(message);
    assertThat(client.getInputStream().readNBytes(message.length)).isEqualTo(message);
    // one more round trip: each direction has then finished with the first message's read (a borrow
    // would follow that read's write, so it could still be under way after the first echo came
    // back)
    client.getOutputStream().write('x');
    assertThat(client.getInputStream().read()).isEqualTo('x');
    // both directions read exactly 512 bytes with nothing more waiting: they park on their small
    // buffers
    assertThat(proxy.stats().bufferBytes()).isZero();
    assertThat(proxy.pool().largestLent()).isZero();
  }

  @Test
  void bufferMemoryBoundsWhatIsLentAndTransfersStayExact() throws Exception {
    TcpProxy proxy = start(proxyTo(echo()).bufferSize(64 * 1024).bufferMemory(64 * 1024));
    Socket client = connect(proxy);
    echoRoundTrip(
        client, 8 * 1024 * 1024); // both directions stream at once, one 64 KiB buffer between them
    assertThat(proxy.pool().largestLent()).isEqualTo(64 * 1024);
    Await.until("buffers returned", () -> proxy.stats().bufferBytes() == 0);
    // never borrowing (a limit below bufferSize) is slower, not broken
    TcpProxy never = start(proxyTo(echo()).bufferMemory(0));
    echoRoundTrip(connect(never), 1024 * 1024);
    assertThat(never.pool().largestLent()).isZero();
    assertThat(never.stats().bufferLimitHits()).isZero();
  }

  @Test
  void halfCloseFromClientStillDeliversBackendReply() throws Exception {
    EchoServer counting =
        resources.track(
            EchoServer.handling(
                s -> {
                  long n = s.getInputStream().transferTo(OutputStream.nullOutputStream());
                  s.getOutputStream()
                      .write(("got " + n + "\n").getBytes(StandardCharsets.US_ASCII));
                  s.shutdownOutput();
                }));
    TcpProxy proxy = start(proxyTo(counting));
    Socket client = connect(proxy);
    client.getOutputStream().write(new byte[100_000]);
    client.shutdownOutput();
    assertThat(readLine(client)).isEqualTo("got 100000");
    assertThat(client.getInputStream().read()).isEqualTo(-1);
  }

  @Test
  void halfCloseFromBackendStillDeliversClientData() throws Exception {
    CompletableFuture<String> backendGot = new CompletableFuture<>();
    EchoServer greeter =
        resources.track(
            EchoServer.handling(
                s -> {
                  s.getOutputStream().write("hello\n".getBytes(StandardCharsets.US_ASCII));
                  s.shutdownOutput(); // FIN toward the client; keep reading
                  backendGot.complete(
                      new String(s.getInputStream().readAllBytes(), StandardCharsets.US_ASCII));
                }));
    TcpProxy proxy = start(proxyTo(greeter));
    Socket client = connect(proxy);
    assertThat(readLine(client)).isEqualTo("hello");
    assertThat(client.getInputStream().read()).isEqualTo(-1); // the backend's FIN came through
    client.getOutputStream().write("still here".getBytes(StandardCharsets.US_ASCII));
    client.shutdownOutput();
    assertThat(backendGot.get(10, TimeUnit.SECONDS)).isEqualTo("still here");
  }

  @Test
  void resetFromClientResetsBackend() throws Exception {
    CompletableFuture<Throwable> backendSaw = new CompletableFuture<>();
    EchoServer server =
        resources.track(
            EchoServer.handling(
                s -> {
                  try {
                    InputStream in = s.getInputStream();
                    in.read();
                    s.getOutputStream().write('k');
                    in.read(); // blocks until the proxy resets us
                    backendSaw.complete(new AssertionError("clean EOF instead of a reset"));
                  } catch (IOException e) {
                    backendSaw.complete(e);
                  }
                }));
    TcpProxy proxy = start(proxyTo(server));
    Socket client = connect(proxy);
    client.getOutputStream().write('x');
    assertThat(client.getInputStream().read()).isEqualTo('k');
    client.setSoLinger(true, 0);
    client.close(); // RST
    assertThat(backendSaw.get(10, TimeUnit.SECONDS))
        .isInstanceOf(SocketException.class)
        .hasMessageContaining("reset");
    Await.until("reset counted", () -> proxy.stats().resets() == 1);
  }

  @Test
  void resetFromBackendResetsClient() throws Exception {
    EchoServer server =
        resources.track(
            EchoServer.handling(
                s -> {
                  s.getInputStream().read();
                  s.setSoLinger(true, 0);
                  s.close();
                }));
    TcpProxy proxy = start(proxyTo(server));
    Socket client = connect(proxy);
    client.getOutputStream().write('x');
    assertThatThrownBy(() -> client.getInputStream().read())
        .isInstanceOf(SocketException.class)
        .hasMessageContaining("reset");
  }

  @Test
  void bothSocketsOfAConnectionHaveNagleOff() throws Exception {
    // Nagle would hold a small write back until the previous one is acknowledged (and the peer
    // delays
    // that ACK by up to 40 ms): the proxy must set TCP_NODELAY on the client and the backend
    // socket.
    TcpProxy proxy = start(proxyTo(echo()));
    Socket client = connect(proxy);
    client.getOutputStream().write('x');
    assertThat(client.getInputStream().read()).isEqualTo('x');
    assertThat(proxy.openConnections()).hasSize(1);
    for (Connection connection : proxy.openConnections()) {
      assertThat(connection.noDelay()).containsExactly(true, true);
    }
  }

  @Test
  void thousandConcurrentConnectionsAreAllByteExact() throws Exception {
    TcpProxy proxy = start(proxyTo(echo(), echo()));
    int clients = 1000;
    int size = 32 * 1024;
    CountDownLatch allOpen =
        new CountDownLatch(1); // no client half-closes before all 1,000 are open
    try (ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
      List<Future<Boolean>> results = new ArrayList<>();
      for (int i = 0; i < clients; i++) {
        int seed = i;
        results.add(
            pool.submit(
                () -> {
                  byte[] data = new byte[size];
                  new Random(seed).nextBytes(data);
                  try (Socket s = new Socket(LOOPBACK, proxy.port())) {
                    s.setSoTimeout(60_000);
                    CompletableFuture<Void> w =
                        CompletableFuture.runAsync(
                            () -> {
                              try {
                                s.getOutputStream().write(data);
                                allOpen.await();
                                s.shutdownOutput();
                              } catch (IOException | InterruptedException e) {
                                throw new RuntimeException(e);
                              }
                            },
                            Executors.newVirtualThreadPerTaskExecutor());
                    byte[] back = s.getInputStream().readAllBytes();
                    w.join();
                    return Arrays.equals(data, back);
                  }
                }));
      }
      try {
        proxy.awaitConnections(
            clients, Duration.ofSeconds(60)); // all open through the proxy at once
      } finally {
        allOpen.countDown();
      }
      int ok = 0;
      for (Future<Boolean> r : results) {
        if (r.get()) {
          ok++;
        }
      }
      assertThat(ok).isEqualTo(clients);
    }
    Await.until("all connections ended", () -> proxy.stats().active() == 0);
    assertThat(proxy.stats().accepted()).isEqualTo(clients);
    assertThat(proxy.stats().bytesUpstream()).isEqualTo((long) clients * size);
  }

  @Test
  void slowReaderBackpressuresInsteadOfBuffering() throws Exception {
    // the backend streams 256 MiB; the client reads nothing: the backend must block, not the proxy
    // buffer it all
    CompletableFuture<Long> written = new CompletableFuture<>();
    long[] progress = new long[1];
    EchoServer firehose =
        resources.track(
            EchoServer.handling(
                s -> {
                  byte[] chunk = new byte[64 * 1024];
                  OutputStream out = s.getOutputStream();
                  try {
                    for (int i = 0; i < 4096; i++) {
                      out.write(chunk);
                      progress[0] += chunk.length;
                    }
                  } finally {
                    written.complete(progress[0]);
                  }
                }));
    TcpProxy proxy = start(proxyTo(firehose));
    Socket client = connect(proxy);
    client.getOutputStream().write('x');
    Await.until("backend stalls", () -> progress[0] > 0);
    long stalled =
        Await.value(
            "writes to stop advancing",
            () -> {
              long p1 = progress[0];
              LockSupport.parkNanos(200_000_000);
              return progress[0] == p1 ? p1 : -1L;
            },
            v -> v > 0);
    // socket buffers on three sockets plus the proxy's buffers: a few MiB, not 256
    assertThat(stalled).isLessThan(32L * 1024 * 1024);
    assertThat(written).isNotDone();
    client.close();
  }

  @Test
  void readsBackendNameOverBufferedReaderForSanity() throws Exception {
    TcpProxy proxy = start(proxyTo(resources.track(EchoServer.named("solo"))));
    try (Socket s = connect(proxy);
        BufferedReader r =
            new BufferedReader(
                new InputStreamReader(s.getInputStream(), StandardCharsets.US_ASCII))) {
      assertThat(r.readLine()).isEqualTo("solo");
    }
  }
}
