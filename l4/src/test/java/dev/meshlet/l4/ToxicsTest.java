package dev.meshlet.l4;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.tuple;

import dev.meshlet.core.Backend;
import dev.meshlet.core.Schedule;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.Socket;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Each toxic measured on real sockets: what arrives, when, and how the connection ends. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class ToxicsTest {
  private static final InetAddress LOOPBACK = InetAddress.getLoopbackAddress();
  private static final Duration WAIT = Duration.ofSeconds(10);
  private final List<AutoCloseable> resources = new ArrayList<>();

  @AfterEach
  void tearDown() throws Exception {
    for (int i = resources.size() - 1; i >= 0; i--) {
      resources.get(i).close();
    }
    assertThat(Await.liveThreads("meshlet-l4-")).as("proxy threads left after close").isEmpty();
  }

  private <T extends AutoCloseable> T track(T resource) {
    resources.add(resource);
    return resource;
  }

  private TcpProxy proxyTo(TestServer server) throws IOException {
    return proxyTo(server, 7L);
  }

  private TcpProxy proxyTo(TestServer server, long seed) throws IOException {
    return track(TcpProxy.builder().listen("127.0.0.1", 0)
        .backends(Backend.of("127.0.0.1", server.port())).seed(seed).start());
  }

  private Socket connect(TcpProxy proxy) throws IOException {
    Socket s = track(new Socket(LOOPBACK, proxy.port()));
    s.setSoTimeout(10_000);
    s.setTcpNoDelay(true);
    return s;
  }

  /** A backend that writes {@code size} bytes as soon as a client connects, then closes. */
  private TestServer source(int size) {
    return track(TestServer.start(s -> {
      byte[] data = new byte[size];
      Arrays.fill(data, (byte) 'x');
      s.getOutputStream().write(data);
      s.shutdownOutput();
      s.getInputStream().transferTo(OutputStream.nullOutputStream());
    }));
  }

  private static long roundTripNanos(Socket s) throws IOException {
    long start = System.nanoTime();
    s.getOutputStream().write('p');
    assertThat(s.getInputStream().read()).isEqualTo('p');
    return System.nanoTime() - start;
  }

  private static long readAll(Socket s) throws IOException {
    InputStream in = s.getInputStream();
    byte[] buf = new byte[8192];
    long total = 0;
    for (int n; (n = in.read(buf)) != -1; ) {
      total += n;
    }
    return total;
  }

  /** Lets wall-clock time pass (a schedule's window is about time itself, not a condition to poll). */
  private static void letTimePass(Duration d) {
    long deadline = System.nanoTime() + d.toNanos();
    for (long left; (left = deadline - System.nanoTime()) > 0; ) {
      LockSupport.parkNanos(left);
    }
  }

  @Test
  void latencyAddsTheConfiguredDelayToEachRoundTrip() throws Exception {
    TcpProxy proxy = proxyTo(track(TestServer.echo()));
    Socket client = connect(proxy);
    long base = Long.MAX_VALUE;
    for (int i = 0; i < 5; i++) {
      base = Math.min(base, roundTripNanos(client));
    }
    proxy.toxics().add("slow", Toxic.latency(Duration.ofMillis(150)).downstream());
    List<Long> added = new ArrayList<>();
    for (int i = 0; i < 5; i++) {
      added.add(TimeUnit.NANOSECONDS.toMillis(roundTripNanos(client) - base));
    }
    // Never less than configured; a stall of the shared CPUs may lengthen one sample, not the median.
    assertThat(added).as("added latency, ms").allMatch(ms -> ms >= 148);
    assertThat(added.stream().sorted().toList().get(2)).as("median added latency, ms").isLessThan(150L + 60L);
  }

  @Test
  void latencyDelaysAStreamWithoutSlowingIt() throws Exception {
    // Toxiproxy's meaning: every chunk leaves at its read time + latency, and the proxy reads on
    // meanwhile. Holding each chunk on the reading thread instead would spread these 512 KiB (8 or
    // more reads) over at least 8 × 400 ms.
    int size = 512 * 1024;
    byte[] data = new byte[size];
    for (int i = 0; i < size; i++) {
      data[i] = (byte) (i % 251);
    }
    TcpProxy proxy = proxyTo(track(TestServer.start(s -> {
      s.getOutputStream().write(data);
      s.shutdownOutput();
      s.getInputStream().transferTo(OutputStream.nullOutputStream());
    })));
    proxy.toxics().add("slow", Toxic.latency(Duration.ofMillis(400)).downstream());
    long connected = System.nanoTime();
    Socket client = connect(proxy);
    InputStream in = client.getInputStream();
    int first = in.read();
    long firstByte = System.nanoTime();
    byte[] rest = in.readAllBytes(); // up to the end of stream, which must follow the delayed data
    long endOfStream = System.nanoTime();
    assertThat(first).isEqualTo(0);
    assertThat(rest).hasSize(size - 1).isEqualTo(Arrays.copyOfRange(data, 1, size));
    assertThat(TimeUnit.NANOSECONDS.toMillis(firstByte - connected)).as("first byte after, ms").isGreaterThanOrEqualTo(395);
    assertThat(TimeUnit.NANOSECONDS.toMillis(endOfStream - firstByte)).as("first to last byte, ms").isLessThan(400);
  }

  @Test
  void closeEndsAConnectionWhoseDataALatencyToxicHolds() throws Exception {
    TestServer echo = track(TestServer.echo());
    TcpProxy proxy = track(TcpProxy.builder().listen("127.0.0.1", 0)
        .backends(Backend.of("127.0.0.1", echo.port())).drainTimeout(Duration.ofMillis(100)).start());
    proxy.toxics().add("forever", Toxic.latency(Duration.ofHours(1)).upstream());
    Socket client = connect(proxy);
    client.getOutputStream().write(new byte[100_000]);
    client.shutdownOutput(); // the end of stream waits behind the held data
    proxy.journal().await(TcpEvent.Connected.class, c -> true, WAIT);
    long start = System.nanoTime();
    proxy.close();
    assertThat(Duration.ofNanos(System.nanoTime() - start)).as("close() with held data").isLessThan(WAIT);
    assertThat(proxy.liveThreads()).isZero();
    assertThat(proxy.stats().active()).isZero();
  }

  @Test
  void jitterSpreadsTheDelayWithinItsBounds() throws Exception {
    TcpProxy proxy = proxyTo(track(TestServer.echo()));
    proxy.toxics().add("jittery", Toxic.latency(Duration.ofMillis(60), Duration.ofMillis(40)).upstream());
    Socket client = connect(proxy);
    List<Long> samples = new ArrayList<>();
    for (int i = 0; i < 12; i++) {
      samples.add(TimeUnit.NANOSECONDS.toMillis(roundTripNanos(client)));
    }
    long min = samples.stream().min(Long::compare).orElseThrow();
    long max = samples.stream().max(Long::compare).orElseThrow();
    assertThat(min).as("fastest round trip, ms").isGreaterThanOrEqualTo(19);
    assertThat(samples.stream().filter(ms -> ms <= 100 + 50).count()).as("round trips within 60+40 ms (+50)")
        .isGreaterThanOrEqualTo(9);
    assertThat(max - min).as("spread, ms").isGreaterThan(10);
  }

  @Test
  void bandwidthLimitsThroughputWithinTwentyPercent() throws Exception {
    int size = 192 * 1024;
    TcpProxy proxy = proxyTo(source(size));
    proxy.toxics().add("thin", Toxic.bandwidth(96).downstream());
    long start = System.nanoTime();
    Socket client = connect(proxy);
    assertThat(readAll(client)).isEqualTo(size);
    double seconds = (System.nanoTime() - start) / 1e9;
    double kibPerSecond = size / 1024.0 / seconds;
    System.out.printf("bandwidth: configured 96 KiB/s, measured %.1f KiB/s over %d KiB%n", kibPerSecond, size / 1024);
    assertThat(kibPerSecond).as("measured KiB/s").isBetween(96 * 0.8, 96 * 1.2);
  }

  @Test
  void slicerCutsDataIntoSegmentsOfTheConfiguredSize() throws Exception {
    int size = 4000;
    TcpProxy proxy = proxyTo(source(size));
    proxy.toxics().add("sliced", Toxic.slicer(100, 20, Duration.ofMillis(20)).downstream());
    Socket client = connect(proxy);
    InputStream in = client.getInputStream();
    byte[] buf = new byte[8192];
    List<Integer> reads = new ArrayList<>();
    int total = 0;
    for (int n; (n = in.read(buf)) != -1; ) {
      reads.add(n);
      total += n;
    }
    assertThat(total).isEqualTo(size);
    // The client may now and then read two segments at once under load; most reads are one segment.
    long inRange = reads.stream().filter(n -> n >= 80 && n <= 120).count();
    System.out.println("slicer: " + reads.size() + " reads, " + inRange + " of 80-120 bytes: " + reads);
    assertThat(reads.size()).as("segments").isGreaterThanOrEqualTo(size / 120 * 8 / 10);
    assertThat(inRange).as("reads of one segment (80-120 bytes)").isGreaterThanOrEqualTo(reads.size() * 8L / 10);
  }

  @Test
  void limitDataClosesAfterExactlyNBytesDownstream() throws Exception {
    TcpProxy proxy = proxyTo(source(100_000));
    proxy.toxics().add("cap", Toxic.limitData(4321).downstream());
    Socket client = connect(proxy);
    assertThat(readAll(client)).isEqualTo(4321);
    TcpEvent.Closed closed = proxy.journal().await(TcpEvent.Closed.class, c -> true, WAIT);
    assertThat(closed.cause()).isEqualTo("toxic cap: limit of 4321 bytes reached");
    assertThat(closed.bytesDownstream()).isEqualTo(4321);
  }

  @Test
  void limitDataClosesAfterExactlyNBytesUpstream() throws Exception {
    CompletableFuture<Long> received = new CompletableFuture<>();
    TestServer counter = track(TestServer.start(s -> {
      received.complete(s.getInputStream().transferTo(OutputStream.nullOutputStream()));
    }));
    TcpProxy proxy = proxyTo(counter);
    proxy.toxics().add("cap", Toxic.limitData(1000).upstream());
    Socket client = connect(proxy);
    try {
      client.getOutputStream().write(new byte[5000]);
    } catch (SocketException e) {
      // the proxy may close before the whole write went out
    }
    assertThat(received.get(10, TimeUnit.SECONDS)).as("bytes the backend got").isEqualTo(1000);
    assertThat(client.getInputStream().read()).isEqualTo(-1);
  }

  @Test
  void resetPeerIsSeenAsAResetByTheClient() throws Exception {
    TcpProxy proxy = proxyTo(track(TestServer.echo()));
    proxy.toxics().add("rst", Toxic.resetPeer(Duration.ofMillis(200)).upstream());
    Socket client = connect(proxy);
    long start = System.nanoTime();
    client.getOutputStream().write("hello".getBytes());
    assertThatThrownBy(() -> client.getInputStream().read())
        .isInstanceOf(SocketException.class).hasMessageContaining("reset");
    assertThat(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start)).isGreaterThanOrEqualTo(195);
    assertThat(proxy.journal().await(TcpEvent.Closed.class, c -> true, WAIT).cause())
        .isEqualTo("toxic rst: reset peer");
  }

  @Test
  void timeoutDropsDataAndClosesAfterTheTimeout() throws Exception {
    TcpProxy proxy = proxyTo(track(TestServer.echo()));
    proxy.toxics().add("hang", Toxic.timeout(Duration.ofMillis(300)).downstream());
    long start = System.nanoTime();
    Socket client = connect(proxy);
    client.getOutputStream().write("anyone there?".getBytes());
    assertThat(client.getInputStream().read()).isEqualTo(-1);
    long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
    assertThat(ms).as("closed after, ms").isBetween(295L, 300L + 1000L);
  }

  @Test
  void blackholeKeepsTheConnectionOpenAndRemovingItClosesWhatItBroke() throws Exception {
    TcpProxy proxy = proxyTo(track(TestServer.echo()));
    proxy.toxics().add("void", Toxic.blackhole().downstream());
    Socket client = connect(proxy);
    Socket quiet = connect(proxy); // sends nothing: nothing of it is dropped, and still it is closed
    client.setSoTimeout(300);
    client.getOutputStream().write('a');
    assertThatThrownBy(() -> client.getInputStream().read()).isInstanceOf(SocketTimeoutException.class);
    proxy.awaitConnections(2, WAIT);
    client.setSoTimeout(10_000);
    proxy.toxics().remove("void"); // as Toxiproxy, removing a timeout closes the connections it applied to
    assertThat(client.getInputStream().read()).isEqualTo(-1);
    assertThat(quiet.getInputStream().read()).isEqualTo(-1);
  }

  @Test
  void slowCloseHoldsTheFinButNotTheData() throws Exception {
    TcpProxy proxy = proxyTo(source(3));
    proxy.toxics().add("lingering", Toxic.slowClose(Duration.ofMillis(300)).downstream());
    long start = System.nanoTime();
    Socket client = connect(proxy);
    InputStream in = client.getInputStream();
    assertThat(in.readNBytes(3)).hasSize(3);
    long dataMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
    assertThat(in.read()).isEqualTo(-1);
    long finMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
    assertThat(dataMs).as("data after, ms").isLessThan(250);
    assertThat(finMs).as("FIN after, ms").isGreaterThanOrEqualTo(295);
  }

  @Test
  void windowScheduleAppliesOnlyWithinTheWindow() throws Exception {
    TcpProxy proxy = proxyTo(track(TestServer.echo()));
    proxy.toxics().add("brief", Toxic.latency(Duration.ofMillis(1)).schedule(
        Schedule.window(Duration.ZERO, Duration.ofMillis(300))));
    new Socket(LOOPBACK, proxy.port()).close();
    proxy.awaitAccepted(1, WAIT);
    letTimePass(Duration.ofMillis(350));
    new Socket(LOOPBACK, proxy.port()).close();
    proxy.awaitAccepted(2, WAIT);
    proxy.awaitIdle(WAIT);
    assertThat(proxy.journal().entries(TcpEvent.ToxicApplied.class))
        .extracting(TcpEvent.ToxicApplied::connection).containsExactly(1L);
  }

  @Test
  void windowToxicActsOnAnOpenConnectionOnlyWhileTheWindowLasts() throws Exception {
    // A pooled connection opened before the window is slow during it and fast again after it.
    TcpProxy proxy = proxyTo(track(TestServer.echo()));
    Socket pooled = connect(proxy);
    roundTripNanos(pooled);
    long installed = System.nanoTime();
    proxy.toxics().add("brief", Toxic.latency(Duration.ofMillis(150)).schedule(
        Schedule.window(Duration.ofMillis(200), Duration.ofMillis(900))));
    long before = roundTripNanos(pooled); // the window has not opened yet (unless the machine stalled 200 ms)
    if (System.nanoTime() - installed < TimeUnit.MILLISECONDS.toNanos(200)) {
      assertThat(TimeUnit.NANOSECONDS.toMillis(before)).as("round trip before the window, ms").isLessThan(150);
    }
    letTimePass(Duration.ofMillis(250));
    assertThat(TimeUnit.NANOSECONDS.toMillis(roundTripNanos(pooled))).as("round trip in the window, ms")
        .isGreaterThanOrEqualTo(148);
    letTimePass(Duration.ofNanos(installed + TimeUnit.MILLISECONDS.toNanos(900) - System.nanoTime()));
    assertThat(TimeUnit.NANOSECONDS.toMillis(roundTripNanos(pooled))).as("round trip after the window, ms")
        .isLessThan(148);
  }

  @Test
  void aTimeoutWhoseWindowEndedLeavesAConnectionItDroppedNothingOfOpen() throws Exception {
    TcpProxy proxy = proxyTo(track(TestServer.echo()));
    Socket quiet = connect(proxy);
    roundTripNanos(quiet);
    long installed = System.nanoTime();
    proxy.toxics().add("brief", Toxic.timeout(Duration.ofMillis(600)).schedule(
        Schedule.window(Duration.ZERO, Duration.ofMillis(200))));
    // idle through the window and past the timeout's 600 ms: nothing of it was dropped
    letTimePass(Duration.ofNanos(installed + TimeUnit.MILLISECONDS.toNanos(900) - System.nanoTime()));
    assertThat(TimeUnit.NANOSECONDS.toMillis(roundTripNanos(quiet))).as("round trip after the window, ms")
        .isLessThan(5_000);
    assertThat(proxy.stats().active()).isEqualTo(1);
  }

  @Test
  void journalRecordsEachConnectionAndCountsWhatItDrops() throws Exception {
    TestServer echo = track(TestServer.echo());
    TcpProxy proxy = track(TcpProxy.builder().listen("127.0.0.1", 0)
        .backends(Backend.of("127.0.0.1", echo.port())).journalCapacity(4).start());
    Socket client = connect(proxy);
    roundTripNanos(client);
    client.close();
    proxy.journal().await(TcpEvent.Closed.class, c -> c.connection() == 1, WAIT);
    List<TcpEvent> entries = proxy.journal().entries();
    assertThat(entries).extracting(e -> e.getClass().getSimpleName())
        .containsExactly("Opened", "Connected", "Closed");
    TcpEvent.Connected connected = (TcpEvent.Connected) entries.get(1);
    assertThat(connected.backend().port()).isEqualTo(echo.port());
    TcpEvent.Closed closed = (TcpEvent.Closed) entries.get(2);
    assertThat(closed.bytesUpstream()).isEqualTo(1);
    assertThat(closed.bytesDownstream()).isEqualTo(1);

    new Socket(LOOPBACK, proxy.port()).close();
    proxy.journal().await(TcpEvent.Closed.class, c -> c.connection() == 2, WAIT);
    assertThat(proxy.journal().awaitCount(TcpEvent.Closed.class, 2, WAIT))
        .extracting(TcpEvent.Closed::connection).containsExactly(1L, 2L);
    assertThat(proxy.journal().entries()).hasSize(4);
    assertThat(proxy.journal().dropped()).isEqualTo(2);
    assertThat(proxy.journal().recorded()).isEqualTo(6);
  }

  @Test
  void awaitHelpersWaitForConnectionsAndReportTheSeedWhenTheyTimeOut() throws Exception {
    TcpProxy proxy = proxyTo(track(TestServer.echo()), 0xABCDL);
    List<Socket> clients = new ArrayList<>();
    for (int i = 0; i < 3; i++) {
      clients.add(connect(proxy));
    }
    proxy.awaitConnections(3, WAIT);
    assertThatThrownBy(() -> proxy.awaitConnections(5, Duration.ofMillis(50)))
        .isInstanceOf(AssertionError.class)
        .hasMessageContaining("5 open connection(s)").hasMessageContaining("seed=0xabcdL");
    assertThatThrownBy(() -> proxy.journal().await(TcpEvent.Refused.class, r -> true, Duration.ofMillis(20)))
        .isInstanceOf(AssertionError.class)
        .hasMessageContaining("waiting for a Refused entry").hasMessageContaining("seed=0xabcdL");
    for (Socket s : clients) {
      s.close();
    }
    proxy.awaitIdle(WAIT);
    assertThat(proxy.seed()).isEqualTo(0xABCDL);
  }

  @Test
  void toxicsAreListedRemovedAndCleared() throws Exception {
    TcpProxy proxy = track(TcpProxy.builder().listen("127.0.0.1", 0)
        .backends(Backend.of("127.0.0.1", 9)).toxic("a", Toxic.latency(Duration.ofMillis(5))).start());
    proxy.toxics().add("b", Toxic.bandwidth(10).upstream());
    assertThat(proxy.toxics().list()).containsOnlyKeys("a", "b");
    assertThat(proxy.toxics().get("b")).isEqualTo(new Toxic.Bandwidth(10, Toxic.Direction.UPSTREAM, 1.0, Schedule.always()));
    assertThatThrownBy(() -> proxy.toxics().add("a", Toxic.blackhole()))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("toxic 'a' already exists");
    assertThat(proxy.toxics().remove("a")).isTrue();
    assertThat(proxy.toxics().remove("a")).isFalse();
    proxy.toxics().clear();
    assertThat(proxy.toxics().list()).isEmpty();
  }

  @Test
  void resetPutsBackTheBuilderToxicsWithTheirSchedulesStartedOver() throws Exception {
    TestServer echo = track(TestServer.echo());
    TcpProxy proxy = track(TcpProxy.builder().listen("127.0.0.1", 0).seed(7)
        .backends(Backend.of("127.0.0.1", echo.port()))
        .toxic("first", Toxic.latency(Duration.ofMillis(1)).schedule(Schedule.firstN(1))).start());
    new Socket(LOOPBACK, proxy.port()).close();
    proxy.awaitAccepted(1, WAIT);
    proxy.awaitIdle(WAIT); // else "extra" may apply to connection 1, still open
    proxy.toxics().add("extra", Toxic.bandwidth(10));
    proxy.toxics().remove("first");

    proxy.toxics().reset();
    assertThat(proxy.toxics().list()).containsOnlyKeys("first");
    new Socket(LOOPBACK, proxy.port()).close();
    proxy.awaitAccepted(2, WAIT);
    proxy.awaitIdle(WAIT);
    // connection 2 is the first the re-installed toxic sees: firstN(1) admits it again
    assertThat(proxy.journal().entries(TcpEvent.ToxicApplied.class))
        .extracting(TcpEvent.ToxicApplied::connection, TcpEvent.ToxicApplied::name)
        .containsExactly(tuple(1L, "first"), tuple(2L, "first"));
  }

  @Test
  void badToxicsSayWhatToFix() {
    assertThatThrownBy(() -> Toxic.latency(Duration.ofMillis(1)).toxicity(1.5))
        .hasMessage("toxicity: 1.5 (expected: 0 to 1)");
    assertThatThrownBy(() -> Toxic.slicer(10, 10, Duration.ZERO))
        .hasMessage("slicer sizeVariation: 10 (expected: 0 to averageSize - 1 = 9)");
    assertThatThrownBy(() -> Toxic.bandwidth(0)).hasMessage("bandwidth: 0 KiB/s (expected: >= 1)");
    assertThatThrownBy(() -> Toxic.limitData(-1)).hasMessage("limitData: -1 bytes (expected: >= 0)");
    assertThatThrownBy(() -> Toxic.latency(Duration.ofMillis(-1)))
        .hasMessage("latency: PT-0.001S (expected: >= 0)");
    assertThatThrownBy(() -> Schedule.firstN(0)).hasMessage("firstN: 0 (expected: >= 1)");
    assertThatThrownBy(() -> TcpProxy.builder().journalCapacity(-1))
        .hasMessage("journalCapacity: -1 (expected: >= 0)");
  }

  @Test
  void removingTheLatencyToxicWhileChunksAreHeldKeepsTheirOrder() throws Exception {
    TcpProxy proxy = proxyTo(track(TestServer.echo()));
    Socket client = connect(proxy);
    client.getOutputStream().write('x'); // connected and spliced before the toxic
    assertThat(client.getInputStream().read()).isEqualTo('x');
    proxy.toxics().add("slow", Toxic.latency(Duration.ofMillis(800)).upstream());
    client.getOutputStream().write('A');
    Connection connection = proxy.openConnections().iterator().next();
    Await.until("'A' held by the delay line", () -> {
      DelayLine line = connection.toBackend.delayLine(false);
      return line != null && line.busy();
    });
    proxy.toxics().remove("slow");
    client.getOutputStream().write('B');
    InputStream in = client.getInputStream();
    assertThat(new String(new byte[] {(byte) in.read(), (byte) in.read()}, "US-ASCII"))
        .as("bytes echoed after the toxic was removed mid-stream").isEqualTo("AB");
  }

  @Test
  void aWindowThatNeverEndsDoesNotStopTheProxyAccepting() throws Exception {
    TcpProxy proxy = proxyTo(track(TestServer.echo()));
    proxy.toxics().add("later", Toxic.latency(Duration.ofMillis(1))
        .schedule(Schedule.window(Duration.ofSeconds(1), Duration.ofSeconds(Long.MAX_VALUE))));
    for (int i = 0; i < 2; i++) {
      Socket client = connect(proxy);
      client.setSoTimeout(3_000);
      client.getOutputStream().write('p');
      assertThat(client.getInputStream().read()).as("round trip on connection " + (i + 1)).isEqualTo('p');
    }
  }

  @Test
  void closeIsPromptWhileTheDelayLineIsBlockedOnASlowReader() throws Exception {
    TestServer firehose = track(TestServer.start(s -> {
      byte[] b = new byte[64 * 1024];
      OutputStream out = s.getOutputStream();
      while (true) {
        out.write(b); // until the proxy stops reading: backpressure
      }
    }));
    TcpProxy proxy = track(TcpProxy.builder().listen("127.0.0.1", 0)
        .backends(Backend.of("127.0.0.1", firehose.port())).drainTimeout(Duration.ofMillis(100)).start());
    proxy.toxics().add("slow", Toxic.latency(Duration.ofMillis(1)).downstream());
    Socket client = connect(proxy); // never reads
    client.setReceiveBufferSize(4096);
    Await.until("the delay line's writer blocked with bytes forwarded", () -> {
      long before = proxy.stats().bytesDownstream();
      java.util.concurrent.locks.LockSupport.parkNanos(200_000_000L);
      return before > 0 && proxy.stats().bytesDownstream() == before;
    });
    long start = System.nanoTime();
    proxy.close();
    assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofSeconds(3));
    assertThat(proxy.liveThreads()).isZero();
  }
}
