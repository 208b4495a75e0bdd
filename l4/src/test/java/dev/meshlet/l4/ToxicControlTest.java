package dev.meshlet.l4;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.tuple;

import dev.meshlet.core.Backend;
import dev.meshlet.core.Schedule;
import dev.meshlet.testkit.Await;
import dev.meshlet.testkit.EchoServer;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Toxics over time and under control: schedules, the journal, listing, removing and resetting them.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class ToxicControlTest extends ToxicsTestSupport {
  /**
   * Lets wall-clock time pass (a schedule's window is about time itself, not a condition to poll).
   */
  private static void letTimePass(Duration d) {
    long deadline = System.nanoTime() + d.toNanos();
    for (long left; (left = deadline - System.nanoTime()) > 0; ) {
      LockSupport.parkNanos(left);
    }
  }

  @Test
  void windowScheduleAppliesOnlyWithinTheWindow() throws Exception {
    TcpProxy proxy = proxyTo(resources.track(EchoServer.start()));
    proxy
        .toxics()
        .add(
            "brief",
            Toxic.latency(Duration.ofMillis(1))
                .schedule(Schedule.window(Duration.ZERO, Duration.ofMillis(300))));
    new Socket(LOOPBACK, proxy.port()).close();
    proxy.awaitAccepted(1, WAIT);
    letTimePass(Duration.ofMillis(350));
    new Socket(LOOPBACK, proxy.port()).close();
    proxy.awaitAccepted(2, WAIT);
    proxy.awaitIdle(WAIT);
    assertThat(proxy.journal().entries(TcpEvent.ToxicApplied.class))
        .extracting(TcpEvent.ToxicApplied::connection)
        .containsExactly(1L);
  }

  @Test
  void windowToxicActsOnAnOpenConnectionOnlyWhileTheWindowLasts() throws Exception {
    // A pooled connection opened before the window is slow during it and fast again after it.
    TcpProxy proxy = proxyTo(resources.track(EchoServer.start()));
    Socket pooled = connect(proxy);
    roundTripNanos(pooled);
    long installed = System.nanoTime();
    proxy
        .toxics()
        .add(
            "brief",
            Toxic.latency(Duration.ofMillis(150))
                .schedule(Schedule.window(Duration.ofMillis(200), Duration.ofMillis(900))));
    long before =
        roundTripNanos(pooled); // the window has not opened yet (unless the machine stalled 200 ms)
    if (System.nanoTime() - installed < TimeUnit.MILLISECONDS.toNanos(200)) {
      assertThat(TimeUnit.NANOSECONDS.toMillis(before))
          .as("round trip before the window, ms")
          .isLessThan(150);
    }
    letTimePass(Duration.ofMillis(250));
    assertThat(TimeUnit.NANOSECONDS.toMillis(roundTripNanos(pooled)))
        .as("round trip in the window, ms")
        .isGreaterThanOrEqualTo(148);
    letTimePass(
        Duration.ofNanos(installed + TimeUnit.MILLISECONDS.toNanos(900) - System.nanoTime()));
    assertThat(TimeUnit.NANOSECONDS.toMillis(roundTripNanos(pooled)))
        .as("round trip after the window, ms")
        .isLessThan(148);
  }

  @Test
  void aTimeoutWhoseWindowEndedLeavesAConnectionItDroppedNothingOfOpen() throws Exception {
    TcpProxy proxy = proxyTo(resources.track(EchoServer.start()));
    Socket quiet = connect(proxy);
    roundTripNanos(quiet);
    long installed = System.nanoTime();
    proxy
        .toxics()
        .add(
            "brief",
            Toxic.timeout(Duration.ofMillis(600))
                .schedule(Schedule.window(Duration.ZERO, Duration.ofMillis(200))));
    // idle through the window and past the timeout's 600 ms: nothing of it was dropped
    letTimePass(
        Duration.ofNanos(installed + TimeUnit.MILLISECONDS.toNanos(900) - System.nanoTime()));
    assertThat(TimeUnit.NANOSECONDS.toMillis(roundTripNanos(quiet)))
        .as("round trip after the window, ms")
        .isLessThan(5_000);
    assertThat(proxy.stats().active()).isEqualTo(1);
  }

  @Test
  void journalRecordsEachConnectionAndCountsWhatItDrops() throws Exception {
    EchoServer echo = resources.track(EchoServer.start());
    TcpProxy proxy =
        resources.track(
            TcpProxy.builder()
                .listen("127.0.0.1", 0)
                .backends(Backend.of("127.0.0.1", echo.port()))
                .journalCapacity(4)
                .start());
    Socket client = connect(proxy);
    roundTripNanos(client);
    client.close();
    proxy.journal().await(TcpEvent.Closed.class, c -> c.connection() == 1, WAIT);
    List<TcpEvent> entries = proxy.journal().entries();
    assertThat(entries)
        .extracting(e -> e.getClass().getSimpleName())
        .containsExactly("Opened", "Connected", "Closed");
    TcpEvent.Connected connected = (TcpEvent.Connected) entries.get(1);
    assertThat(connected.backend().port()).isEqualTo(echo.port());
    TcpEvent.Closed closed = (TcpEvent.Closed) entries.get(2);
    assertThat(closed.bytesUpstream()).isEqualTo(1);
    assertThat(closed.bytesDownstream()).isEqualTo(1);

    new Socket(LOOPBACK, proxy.port()).close();
    proxy.journal().await(TcpEvent.Closed.class, c -> c.connection() == 2, WAIT);
    assertThat(proxy.journal().awaitCount(TcpEvent.Closed.class, 2, WAIT))
        .extracting(TcpEvent.Closed::connection)
        .containsExactly(1L, 2L);
    assertThat(proxy.journal().entries()).hasSize(4);
    assertThat(proxy.journal().dropped()).isEqualTo(2);
    assertThat(proxy.journal().recorded()).isEqualTo(6);
  }

  @Test
  void awaitHelpersWaitForConnectionsAndReportTheSeedWhenTheyTimeOut() throws Exception {
    TcpProxy proxy = proxyTo(resources.track(EchoServer.start()), 0xABCDL);
    List<Socket> clients = new ArrayList<>();
    for (int i = 0; i < 3; i++) {
      clients.add(connect(proxy));
    }
    proxy.awaitConnections(3, WAIT);
    assertThatThrownBy(() -> proxy.awaitConnections(5, Duration.ofMillis(50)))
        .isInstanceOf(AssertionError.class)
        .hasMessageContaining("5 open connection(s)")
        .hasMessageContaining("seed=0xabcdL");
    assertThatThrownBy(
            () -> proxy.journal().await(TcpEvent.Refused.class, r -> true, Duration.ofMillis(20)))
        .isInstanceOf(AssertionError.class)
        .hasMessageContaining("waiting for a Refused entry")
        .hasMessageContaining("seed=0xabcdL");
    for (Socket s : clients) {
      s.close();
    }
    proxy.awaitIdle(WAIT);
    assertThat(proxy.seed()).isEqualTo(0xABCDL);
  }

  @Test
  void toxicsAreListedRemovedAndCleared() throws Exception {
    TcpProxy proxy =
        resources.track(
            TcpProxy.builder()
                .listen("127.0.0.1", 0)
                .backends(Backend.of("127.0.0.1", 9))
                .toxic("a", Toxic.latency(Duration.ofMillis(5)))
                .start());
    proxy.toxics().add("b", Toxic.bandwidth(10).upstream());
    assertThat(proxy.toxics().list()).containsOnlyKeys("a", "b");
    assertThat(proxy.toxics().get("b"))
        .isEqualTo(new Toxic.Bandwidth(10, Toxic.Direction.UPSTREAM, 1.0, Schedule.always()));
    assertThatThrownBy(() -> proxy.toxics().add("a", Toxic.blackhole()))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("toxic 'a' already exists");
    assertThat(proxy.toxics().remove("a")).isTrue();
    assertThat(proxy.toxics().remove("a")).isFalse();
    proxy.toxics().clear();
    assertThat(proxy.toxics().list()).isEmpty();
  }

  @Test
  void resetPutsBackTheBuilderToxicsWithTheirSchedulesStartedOver() throws Exception {
    EchoServer echo = resources.track(EchoServer.start());
    TcpProxy proxy =
        resources.track(
            TcpProxy.builder()
                .listen("127.0.0.1", 0)
                .seed(7)
                .backends(Backend.of("127.0.0.1", echo.port()))
                .toxic("first", Toxic.latency(Duration.ofMillis(1)).schedule(Schedule.firstN(1)))
                .start());
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
    assertThatThrownBy(() -> Toxic.limitData(-1))
        .hasMessage("limitData: -1 bytes (expected: >= 0)");
    assertThatThrownBy(() -> Toxic.latency(Duration.ofMillis(-1)))
        .hasMessage("latency: PT-0.001S (expected: >= 0)");
    assertThatThrownBy(() -> Schedule.firstN(0)).hasMessage("firstN: 0 (expected: >= 1)");
    assertThatThrownBy(() -> TcpProxy.builder().journalCapacity(-1))
        .hasMessage("journalCapacity: -1 (expected: >= 0)");
  }

  @Test
  void removingTheLatencyToxicWhileChunksAreHeldKeepsTheirOrder() throws Exception {
    TcpProxy proxy = proxyTo(resources.track(EchoServer.start()));
    Socket client = connect(proxy);
    client.getOutputStream().write('x'); // connected and spliced before the toxic
    assertThat(client.getInputStream().read()).isEqualTo('x');
    proxy.toxics().add("slow", Toxic.latency(Duration.ofMillis(800)).upstream());
    client.getOutputStream().write('A');
    Connection connection = proxy.openConnections().iterator().next();
    Await.until(
        "'A' held by the delay line",
        () -> {
          DelayLine line = connection.toBackend.delayLine(false);
          return line != null && line.busy();
        });
    proxy.toxics().remove("slow");
    client.getOutputStream().write('B');
    InputStream in = client.getInputStream();
    assertThat(new String(new byte[] {(byte) in.read(), (byte) in.read()}, "US-ASCII"))
        .as("bytes echoed after the toxic was removed mid-stream")
        .isEqualTo("AB");
  }

  @Test
  void aWindowThatNeverEndsDoesNotStopTheProxyAccepting() throws Exception {
    TcpProxy proxy = proxyTo(resources.track(EchoServer.start()));
    proxy
        .toxics()
        .add(
            "later",
            Toxic.latency(Duration.ofMillis(1))
                .schedule(
                    Schedule.window(Duration.ofSeconds(1), Duration.ofSeconds(Long.MAX_VALUE))));
    for (int i = 0; i < 2; i++) {
      Socket client = connect(proxy);
      client.setSoTimeout(3_000);
      client.getOutputStream().write('p');
      assertThat(client.getInputStream().read())
          .as("round trip on connection " + (i + 1))
          .isEqualTo('p');
    }
  }

  @Test
  void closeIsPromptWhileTheDelayLineIsBlockedOnASlowReader() throws Exception {
    EchoServer firehose =
        resources.track(
            EchoServer.handling(
                s -> {
                  byte[] b = new byte[64 * 1024];
                  OutputStream out = s.getOutputStream();
                  while (true) {
                    out.write(b); // until the proxy stops reading: backpressure
                  }
                }));
    TcpProxy proxy =
        resources.track(
            TcpProxy.builder()
                .listen("127.0.0.1", 0)
                .backends(Backend.of("127.0.0.1", firehose.port()))
                .drainTimeout(Duration.ofMillis(100))
                .start());
    proxy.toxics().add("slow", Toxic.latency(Duration.ofMillis(1)).downstream());
    Socket client = connect(proxy); // never reads
    client.setReceiveBufferSize(4096);
    Await.until(
        "the delay line's writer blocked with bytes forwarded",
        () -> {
          long before = proxy.stats().bytesDownstream();
          LockSupport.parkNanos(200_000_000L);
          return before > 0 && proxy.stats().bytesDownstream() == before;
        });
    long start = System.nanoTime();
    proxy.close();
    assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofSeconds(3));
    assertThat(proxy.liveThreads()).isZero();
  }
}
