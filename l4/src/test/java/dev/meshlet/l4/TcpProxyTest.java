package dev.meshlet.l4;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.meshlet.core.Backend;
import dev.meshlet.core.Balancer;
import dev.meshlet.core.Cluster;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.BindException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@Timeout(value = 120, unit = TimeUnit.SECONDS)
class TcpProxyTest {
  private static final InetAddress LOOPBACK = InetAddress.getLoopbackAddress();
  private final List<AutoCloseable> resources = new ArrayList<>();

  @AfterEach
  void tearDown() throws Exception {
    for (int i = resources.size() - 1; i >= 0; i--) {
      resources.get(i).close();
    }
  }

  private <T extends AutoCloseable> T track(T resource) {
    resources.add(resource);
    return resource;
  }

  private TestServer echo() {
    return track(TestServer.echo());
  }

  private static Backend backend(TestServer s) {
    return Backend.of("127.0.0.1", s.port());
  }

  private TcpProxy.Builder proxyTo(TestServer... servers) {
    TcpProxy.Builder b = TcpProxy.builder().listen("127.0.0.1", 0);
    for (TestServer s : servers) {
      b.backends(backend(s));
    }
    return b;
  }

  private TcpProxy start(TcpProxy.Builder b) throws IOException {
    return track(b.start());
  }

  private Socket connect(TcpProxy proxy) throws IOException {
    Socket s = track(new Socket(LOOPBACK, proxy.port()));
    s.setSoTimeout(10_000);
    return s;
  }

  private static String readLine(Socket s) throws IOException {
    StringBuilder line = new StringBuilder();
    InputStream in = s.getInputStream();
    int c;
    while ((c = in.read()) != -1 && c != '\n') {
      line.append((char) c);
    }
    return line.toString();
  }

  @Test
  void transfers64MiBBothWaysAtOnceByteExact() throws Exception {
    TcpProxy proxy = start(proxyTo(echo()));
    Socket client = connect(proxy);
    int size = 64 * 1024 * 1024;
    echoRoundTrip(client, size);
    client.shutdownOutput(); // the echo backend then ends its side: the client sees the end of stream
    assertThat(client.getInputStream().read()).isEqualTo(-1);
    Await.until("bytes counted", () -> proxy.stats().bytesDownstream() == size);
    assertThat(proxy.stats().bytesUpstream()).isEqualTo(size);
    assertThat(proxy.cluster().endpoints().get(0).stats().bytesIn()).isEqualTo(size);
  }

  /** Writes {@code size} random bytes to the echo backend through {@code client}, reads them back, keeps it open. */
  private static void echoRoundTrip(Socket client, int size) throws Exception {
    MessageDigest sent = MessageDigest.getInstance("SHA-256");
    MessageDigest received = MessageDigest.getInstance("SHA-256");
    Future<?> writer = CompletableFuture.runAsync(() -> {
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
    // the connection stays open and idle: both directions park on their 512-byte buffers, nothing lent
    Await.until("buffers returned", () -> proxy.stats().bufferBytes() == 0);
    assertThat(proxy.stats().active()).isEqualTo(1);
    assertThat(proxy.stats().bufferLimitHits()).isZero();
    assertThat(proxy.pool().largestLent()).isGreaterThanOrEqualTo(64 * 1024); // the burst did borrow
    echoRoundTrip(client, 1024 * 1024); // and the connection still works
  }

  @Test
  void aMessageThatExactlyFillsTheReadBufferLeavesNothingBorrowed() throws Exception {
    TcpProxy proxy = start(proxyTo(echo()));
    Socket client = connect(proxy);
    byte[] message = new byte[ReadBuffers.SMALL];
    java.util.Arrays.fill(message, (byte) 'm');
    client.getOutputStream().write(message);
    assertThat(client.getInputStream().readNBytes(message.length)).isEqualTo(message);
    // one more round trip: each direction has then finished with the first message's read (a borrow
    // would follow that read's write, so it could still be under way after the first echo came back)
    client.getOutputStream().write('x');
    assertThat(client.getInputStream().read()).isEqualTo('x');
    // both directions read exactly 512 bytes with nothing more waiting: they park on their small buffers
    assertThat(proxy.stats().bufferBytes()).isZero();
    assertThat(proxy.pool().largestLent()).isZero();
  }

  @Test
  void bufferMemoryBoundsWhatIsLentAndTransfersStayExact() throws Exception {
    TcpProxy proxy = start(proxyTo(echo()).bufferSize(64 * 1024).bufferMemory(64 * 1024));
    Socket client = connect(proxy);
    echoRoundTrip(client, 8 * 1024 * 1024); // both directions stream at once, one 64 KiB buffer between them
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
    TestServer counting = track(TestServer.start(s -> {
      long n = s.getInputStream().transferTo(OutputStream.nullOutputStream());
      s.getOutputStream().write(("got " + n + "\n").getBytes(StandardCharsets.US_ASCII));
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
    TestServer greeter = track(TestServer.start(s -> {
      s.getOutputStream().write("hello\n".getBytes(StandardCharsets.US_ASCII));
      s.shutdownOutput(); // FIN toward the client; keep reading
      backendGot.complete(new String(s.getInputStream().readAllBytes(), StandardCharsets.US_ASCII));
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
    TestServer server = track(TestServer.start(s -> {
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
        .isInstanceOf(SocketException.class).hasMessageContaining("reset");
    Await.until("reset counted", () -> proxy.stats().resets() == 1);
  }

  @Test
  void resetFromBackendResetsClient() throws Exception {
    TestServer server = track(TestServer.start(s -> {
      s.getInputStream().read();
      s.setSoLinger(true, 0);
      s.close();
    }));
    TcpProxy proxy = start(proxyTo(server));
    Socket client = connect(proxy);
    client.getOutputStream().write('x');
    assertThatThrownBy(() -> client.getInputStream().read())
        .isInstanceOf(SocketException.class).hasMessageContaining("reset");
  }

  @Test
  void idleTimeoutSparesAConnectionWithTrafficInOneDirectionOnly() throws Exception {
    // the backend ticks a byte every 50 ms for 1.5 s and never hears from the client: not idle
    TestServer ticker = track(TestServer.start(s -> {
      OutputStream out = s.getOutputStream();
      for (int i = 0; i < 30; i++) {
        out.write('t');
        out.flush();
        java.util.concurrent.locks.LockSupport.parkNanos(50_000_000); // the pace of the traffic
      }
      s.shutdownOutput();
      s.getInputStream().readAllBytes();
    }));
    TcpProxy proxy = start(proxyTo(ticker).idleTimeout(Duration.ofMillis(600)));
    Socket client = connect(proxy);
    assertThat(client.getInputStream().readAllBytes()).hasSize(30); // all ticks, then the backend's FIN
    client.close(); // well within the idle timeout: the connection ends by itself
    proxy.awaitIdle(Duration.ofSeconds(10));
    assertThat(proxy.stats().idleTimeouts()).isZero();
  }

  @Test
  void bothSocketsOfAConnectionHaveNagleOff() throws Exception {
    // Nagle would hold a small write back until the previous one is acknowledged (and the peer delays
    // that ACK by up to 40 ms): the proxy must set TCP_NODELAY on the client and the backend socket.
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
  void idleTimeoutClosesQuietConnectionsOnly() throws Exception {
    TcpProxy proxy = start(proxyTo(echo()).idleTimeout(Duration.ofMillis(300)));
    Socket quiet = connect(proxy);
    quiet.getOutputStream().write('x');
    assertThat(quiet.getInputStream().read()).isEqualTo('x');
    assertThat(quiet.getInputStream().read()).isEqualTo(-1); // closed by the idle timeout
    assertThat(proxy.stats().idleTimeouts()).isEqualTo(1);
  }

  @Test
  void maxConnectionsClosesTheExcessAndCountsIt() throws Exception {
    TcpProxy proxy = start(proxyTo(echo()).maxConnections(2));
    Socket a = connect(proxy);
    Socket b = connect(proxy);
    for (Socket s : List.of(a, b)) {
      s.getOutputStream().write('x');
      assertThat(s.getInputStream().read()).isEqualTo('x');
    }
    Socket c = connect(proxy);
    assertThat(c.getInputStream().read()).isEqualTo(-1);
    assertThat(proxy.stats().rejected()).isEqualTo(1);
    a.close();
    Await.until("a's slot freed", () -> proxy.stats().active() == 1);
    Socket d = connect(proxy);
    d.getOutputStream().write('y');
    assertThat(d.getInputStream().read()).isEqualTo('y');
  }

  @Test
  void thousandConcurrentConnectionsAreAllByteExact() throws Exception {
    TcpProxy proxy = start(proxyTo(echo(), echo()));
    int clients = 1000;
    int size = 32 * 1024;
    CountDownLatch allOpen = new CountDownLatch(1); // no client half-closes before all 1,000 are open
    try (ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
      List<Future<Boolean>> results = new ArrayList<>();
      for (int i = 0; i < clients; i++) {
        int seed = i;
        results.add(pool.submit(() -> {
          byte[] data = new byte[size];
          new Random(seed).nextBytes(data);
          try (Socket s = new Socket(LOOPBACK, proxy.port())) {
            s.setSoTimeout(60_000);
            CompletableFuture<Void> w = CompletableFuture.runAsync(() -> {
              try {
                s.getOutputStream().write(data);
                allOpen.await();
                s.shutdownOutput();
              } catch (IOException | InterruptedException e) {
                throw new RuntimeException(e);
              }
            }, Executors.newVirtualThreadPerTaskExecutor());
            byte[] back = s.getInputStream().readAllBytes();
            w.join();
            return java.util.Arrays.equals(data, back);
          }
        }));
      }
      try {
        proxy.awaitConnections(clients, Duration.ofSeconds(60)); // all open through the proxy at once
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
  void closeReleasesThePortAndLeavesNoThreads() throws Exception {
    TcpProxy proxy = TcpProxy.builder().listen("127.0.0.1", 0).backends(backend(echo()))
        .drainTimeout(Duration.ofMillis(200)).start();
    Socket open = connect(proxy);
    open.getOutputStream().write('x');
    assertThat(open.getInputStream().read()).isEqualTo('x');
    assertThat(proxy.liveThreads()).isGreaterThanOrEqualTo(3); // accept, idle reaper, 2 per connection
    int port = proxy.port();
    long t0 = System.nanoTime();
    proxy.close();
    assertThat(Duration.ofNanos(System.nanoTime() - t0)).isLessThan(Duration.ofSeconds(5));
    assertThat(proxy.liveThreads()).isZero();
    assertThat(proxy.stats().active()).isZero();
    // cut after the drain deadline: a reset, so the client cannot mistake it for a complete stream
    assertThatThrownBy(() -> open.getInputStream().read()).isInstanceOf(SocketException.class);
    try (ServerSocket again = new ServerSocket()) {
      again.bind(new InetSocketAddress(LOOPBACK, port));
      assertThat(again.getLocalPort()).isEqualTo(port);
    }
    proxy.close(); // idempotent
  }

  @Test
  void closeNeverReturnsBeforeTheLastConnectionThreadHasEnded() throws Exception {
    // close() used to return once the connection executor counted its tasks done, a moment before
    // their threads finished: 9 in 100 closes then still saw a live proxy thread
    TestServer echo = echo();
    for (int i = 0; i < 100; i++) {
      TcpProxy proxy = TcpProxy.builder().listen("127.0.0.1", 0).backends(backend(echo))
          .drainTimeout(Duration.ZERO).start();
      try (Socket s = new Socket(LOOPBACK, proxy.port())) {
        s.setSoTimeout(10_000);
        s.getOutputStream().write('x');
        assertThat(s.getInputStream().read()).isEqualTo('x');
        proxy.close();
        assertThat(proxy.liveThreads()).as("live proxy threads right after close #" + i).isZero();
      }
    }
  }

  @Test
  void closeLetsInFlightConnectionsFinishWithinTheDrainTimeout() throws Exception {
    TcpProxy proxy = TcpProxy.builder().listen("127.0.0.1", 0).backends(backend(echo()))
        .drainTimeout(Duration.ofSeconds(30)).start();
    Socket client = connect(proxy);
    client.getOutputStream().write('a');
    assertThat(client.getInputStream().read()).isEqualTo('a');
    CompletableFuture<Void> closing = CompletableFuture.runAsync(proxy::close);
    Await.until("draining", () -> proxy.stats().draining());
    assertThatThrownBy(() -> new Socket(LOOPBACK, proxy.port()).close()).isInstanceOf(IOException.class);
    client.getOutputStream().write('b'); // the open connection still works
    assertThat(client.getInputStream().read()).isEqualTo('b');
    assertThat(closing).isNotDone();
    client.shutdownOutput();
    assertThat(client.getInputStream().read()).isEqualTo(-1);
    closing.get(10, TimeUnit.SECONDS);
    assertThat(proxy.liveThreads()).isZero();
  }

  @Test
  void backendsAddedAndRemovedWhileConnectionsStayOpen() throws Exception {
    TestServer a = track(TestServer.named("a"));
    TestServer b = track(TestServer.named("b"));
    TcpProxy proxy = start(proxyTo(a));
    Socket toA = connect(proxy);
    assertThat(readLine(toA)).isEqualTo("a");
    proxy.cluster().add(backend(b));
    proxy.cluster().remove(backend(a));
    try (Socket s = connect(proxy)) {
      assertThat(readLine(s)).isEqualTo("b");
    }
    toA.getOutputStream().write("ping\n".getBytes(StandardCharsets.US_ASCII)); // undisturbed
    assertThat(readLine(toA)).isEqualTo("ping");
  }

  @Test
  void badConfigurationSaysWhatToFix() throws Exception {
    assertThatThrownBy(() -> TcpProxy.builder().listen(70_000))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("listen port: 70000 (expected: 0-65535, 0 for any free port)");
    assertThatThrownBy(() -> TcpProxy.builder().listen(0).start())
        .isInstanceOf(IllegalStateException.class)
        .hasMessage("no backends: call backends(...) or cluster(...)");
    assertThatThrownBy(() -> TcpProxy.builder().backends(Backend.of("h", 1)).start())
        .isInstanceOf(IllegalStateException.class).hasMessageContaining("no listen port");
    assertThatThrownBy(() -> TcpProxy.builder().connectTimeout(Duration.ofSeconds(-1)))
        .isInstanceOf(IllegalArgumentException.class).hasMessage("connectTimeout: PT-1S (expected: > 0)");
    assertThatThrownBy(() -> TcpProxy.builder().idleTimeout(Duration.ofMillis(-5)))
        .hasMessage("idleTimeout: PT-0.005S (expected: >= 0)");
    Duration forever = Duration.ofSeconds(Long.MAX_VALUE); // overflowed nanoseconds in start(), after the bind
    assertThatThrownBy(() -> TcpProxy.builder().connectTimeout(forever))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("connectTimeout: PT")
        .hasMessageEndingWith("(expected: at most 292 years)");
    assertThatThrownBy(() -> TcpProxy.builder().idleTimeout(forever))
        .isInstanceOf(IllegalArgumentException.class).hasMessageEndingWith("(expected: at most 292 years)");
    assertThatThrownBy(() -> TcpProxy.builder().drainTimeout(forever))
        .isInstanceOf(IllegalArgumentException.class).hasMessageEndingWith("(expected: at most 292 years)");
    assertThatThrownBy(() -> TcpProxy.builder().bufferSize(10)).hasMessageContaining("bufferSize: 10");
    assertThatThrownBy(() -> TcpProxy.builder().maxBufferSize(32 * 1024 * 1024))
        .hasMessage("maxBufferSize: 33554432 (expected: 1024 to 16777216 bytes)");
    assertThatThrownBy(() -> TcpProxy.builder().bufferMemory(-1)).hasMessage("bufferMemory: -1 (expected: >= 0 bytes)");
    assertThatThrownBy(() -> TcpProxy.builder().listen(0).backends(Backend.of("127.0.0.1", 1))
            .bufferSize(128 * 1024).maxBufferSize(64 * 1024).start())
        .isInstanceOf(IllegalStateException.class)
        .hasMessage("maxBufferSize 65536 is smaller than bufferSize 131072: raise maxBufferSize or lower bufferSize");
    assertThatThrownBy(() -> TcpProxy.builder().maxConnections(0)).hasMessageContaining("maxConnections: 0");
    assertThatThrownBy(() -> TcpProxy.builder().connectAttempts(0)).hasMessageContaining("connectAttempts: 0");
    Cluster c = Cluster.of("c", Backend.of("127.0.0.1", 1));
    assertThatThrownBy(() -> TcpProxy.builder().listen(0).cluster(c).balancer(Balancer.random()).start())
        .isInstanceOf(IllegalStateException.class).hasMessageContaining("brings its own balancer");
  }

  @Test
  void portInUseNamesTheAddress() throws Exception {
    try (ServerSocket taken = new ServerSocket(0, 1, LOOPBACK)) {
      assertThatThrownBy(() -> TcpProxy.builder().listen("127.0.0.1", taken.getLocalPort())
              .backends(Backend.of("127.0.0.1", 1)).start())
          .isInstanceOf(BindException.class)
          .hasMessageStartingWith("listen 127.0.0.1:" + taken.getLocalPort() + ": address already in use");
    }
    // 192.0.2.1 (TEST-NET-1) is no address of this machine: not "in use", and said so
    assertThatThrownBy(() -> TcpProxy.builder().listen("192.0.2.1", 0).backends(Backend.of("127.0.0.1", 1)).start())
        .isInstanceOf(BindException.class)
        .hasMessageStartingWith("listen 192.0.2.1:0: cannot bind (");
  }

  @Test
  void slowReaderBackpressuresInsteadOfBuffering() throws Exception {
    // the backend streams 256 MiB; the client reads nothing: the backend must block, not the proxy buffer it all
    CompletableFuture<Long> written = new CompletableFuture<>();
    long[] progress = new long[1];
    TestServer firehose = track(TestServer.start(s -> {
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
    long stalled = Await.value("writes to stop advancing", () -> {
      long p1 = progress[0];
      java.util.concurrent.locks.LockSupport.parkNanos(200_000_000);
      return progress[0] == p1 ? p1 : -1L;
    }, v -> v > 0);
    // socket buffers on three sockets plus the proxy's buffers: a few MiB, not 256
    assertThat(stalled).isLessThan(32L * 1024 * 1024);
    assertThat(written).isNotDone();
    client.close();
  }

  @Test
  void readsBackendNameOverBufferedReaderForSanity() throws Exception {
    TcpProxy proxy = start(proxyTo(track(TestServer.named("solo"))));
    try (Socket s = connect(proxy);
        BufferedReader r = new BufferedReader(new InputStreamReader(s.getInputStream(), StandardCharsets.US_ASCII))) {
      assertThat(r.readLine()).isEqualTo("solo");
    }
  }
}
