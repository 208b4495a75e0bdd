package dev.meshlet.l4;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.meshlet.core.Backend;
import dev.meshlet.testkit.EchoServer;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Each toxic measured on real sockets: what arrives, when, and how the connection ends. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class ToxicsTest extends ToxicsTestSupport {
  /** A backend that writes {@code size} bytes as soon as a client connects, then closes. */
  private EchoServer source(int size) {
    return resources.track(
        EchoServer.handling(
            s -> {
              byte[] data = new byte[size];
              Arrays.fill(data, (byte) 'x');
              s.getOutputStream().write(data);
              s.shutdownOutput();
              s.getInputStream().transferTo(OutputStream.nullOutputStream());
            }));
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

  @Test
  void latencyAddsTheConfiguredDelayToEachRoundTrip() throws Exception {
    TcpProxy proxy = proxyTo(resources.track(EchoServer.start()));
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
    // Never less than configured; a stall of the shared CPUs may lengthen one sample, not the
    // median.
    assertThat(added).as("added latency, ms").allMatch(ms -> ms >= 148);
    assertThat(added.stream().sorted().toList().get(2))
        .as("median added latency, ms")
        .isLessThan(150L + 60L);
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
    TcpProxy proxy =
        proxyTo(
            resources.track(
                EchoServer.handling(
                    s -> {
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
    assertThat(TimeUnit.NANOSECONDS.toMillis(firstByte - connected))
        .as("first byte after, ms")
        .isGreaterThanOrEqualTo(395);
    assertThat(TimeUnit.NANOSECONDS.toMillis(endOfStream - firstByte))
        .as("first to last byte, ms")
        .isLessThan(400);
  }

  @Test
  void closeEndsAConnectionWhoseDataALatencyToxicHolds() throws Exception {
    EchoServer echo = resources.track(EchoServer.start());
    TcpProxy proxy =
        resources.track(
            TcpProxy.builder()
                .listen("127.0.0.1", 0)
                .backends(Backend.of("127.0.0.1", echo.port()))
                .drainTimeout(Duration.ofMillis(100))
                .start());
    proxy.toxics().add("forever", Toxic.latency(Duration.ofHours(1)).upstream());
    Socket client = connect(proxy);
    client.getOutputStream().write(new byte[100_000]);
    client.shutdownOutput(); // the end of stream waits behind the held data
    proxy.journal().await(TcpEvent.Connected.class, c -> true, WAIT);
    long start = System.nanoTime();
    proxy.close();
    assertThat(Duration.ofNanos(System.nanoTime() - start))
        .as("close() with held data")
        .isLessThan(WAIT);
    assertThat(proxy.liveThreads()).isZero();
    assertThat(proxy.stats().active()).isZero();
  }

  @Test
  void jitterSpreadsTheDelayWithinItsBounds() throws Exception {
    TcpProxy proxy = proxyTo(resources.track(EchoServer.start()));
    proxy
        .toxics()
        .add("jittery", Toxic.latency(Duration.ofMillis(60), Duration.ofMillis(40)).upstream());
    Socket client = connect(proxy);
    List<Long> samples = new ArrayList<>();
    for (int i = 0; i < 12; i++) {
      samples.add(TimeUnit.NANOSECONDS.toMillis(roundTripNanos(client)));
    }
    long min = samples.stream().min(Long::compare).orElseThrow();
    long max = samples.stream().max(Long::compare).orElseThrow();
    assertThat(min).as("fastest round trip, ms").isGreaterThanOrEqualTo(19);
    assertThat(samples.stream().filter(ms -> ms <= 100 + 50).count())
        .as("round trips within 60+40 ms (+50)")
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
    System.out.printf(
        "bandwidth: configured 96 KiB/s, measured %.1f KiB/s over %d KiB%n",
        kibPerSecond, size / 1024);
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
    System.out.println(
        "slicer: " + reads.size() + " reads, " + inRange + " of 80-120 bytes: " + reads);
    assertThat(reads.size()).as("segments").isGreaterThanOrEqualTo(size / 120 * 8 / 10);
    assertThat(inRange)
        .as("reads of one segment (80-120 bytes)")
        .isGreaterThanOrEqualTo(reads.size() * 8L / 10);
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
    EchoServer counter =
        resources.track(
            EchoServer.handling(
                s -> {
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
    TcpProxy proxy = proxyTo(resources.track(EchoServer.start()));
    proxy.toxics().add("rst", Toxic.resetPeer(Duration.ofMillis(200)).upstream());
    Socket client = connect(proxy);
    long start = System.nanoTime();
    client.getOutputStream().write("hello".getBytes());
    assertThatThrownBy(() -> client.getInputStream().read())
        .isInstanceOf(SocketException.class)
        .hasMessageContaining("reset");
    assertThat(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start))
        .isGreaterThanOrEqualTo(195);
    assertThat(proxy.journal().await(TcpEvent.Closed.class, c -> true, WAIT).cause())
        .isEqualTo("toxic rst: reset peer");
  }

  @Test
  void timeoutDropsDataAndClosesAfterTheTimeout() throws Exception {
    TcpProxy proxy = proxyTo(resources.track(EchoServer.start()));
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
    TcpProxy proxy = proxyTo(resources.track(EchoServer.start()));
    proxy.toxics().add("void", Toxic.blackhole().downstream());
    Socket client = connect(proxy);
    Socket quiet =
        connect(proxy); // sends nothing: nothing of it is dropped, and still it is closed
    client.setSoTimeout(300);
    client.getOutputStream().write('a');
    assertThatThrownBy(() -> client.getInputStream().read())
        .isInstanceOf(SocketTimeoutException.class);
    proxy.awaitConnections(2, WAIT);
    client.setSoTimeout(10_000);
    proxy
        .toxics()
        .remove("void"); // as Toxiproxy, removing a timeout closes the connections it applied to
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
}
