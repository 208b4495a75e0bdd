package dev.meshlet.l4;

import static org.assertj.core.api.Assertions.assertThat;

import dev.meshlet.core.Backend;
import dev.meshlet.core.Schedule;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.Socket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The latency toxic's delay line (order, backpressure, close) and window bounds that never end. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class DelayLineTest {
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
    return track(TcpProxy.builder().listen("127.0.0.1", 0)
        .backends(Backend.of("127.0.0.1", server.port())).seed(7).start());
  }

  private Socket connect(TcpProxy proxy) throws IOException {
    Socket s = track(new Socket(LOOPBACK, proxy.port()));
    s.setSoTimeout(10_000);
    s.setTcpNoDelay(true);
    return s;
  }

  @Test
  void removingTheLatencyToxicWhileChunksAreHeldKeepsTheirOrder() throws Exception {
    TcpProxy proxy = proxyTo(track(TestServer.echo()));
    Socket client = connect(proxy);
    client.getOutputStream().write('x'); // connected and spliced before the toxic
    assertThat(client.getInputStream().read()).isEqualTo('x');
    proxy.toxics().add("slow", Toxic.latency(Duration.ofMillis(800)).upstream());
    client.getOutputStream().write('A');
    Splice splice = proxy.openConnections().iterator().next();
    Await.until("'A' held by the delay line", () -> {
      DelayLine line = splice.delayLine(true, false);
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
