package dev.meshlet.l4;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.meshlet.core.Backend;
import dev.meshlet.core.Balancer;
import dev.meshlet.core.Cluster;
import dev.meshlet.testkit.Await;
import dev.meshlet.testkit.EchoServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.BindException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The TCP proxy's limits and lifecycle: idle timeouts, max connections, close, drain, bad config.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class TcpProxyLifecycleTest extends TcpProxyTestSupport {
  @Test
  void idleTimeoutSparesAConnectionWithTrafficInOneDirectionOnly() throws Exception {
    // the backend ticks a byte every 50 ms for 1.5 s and never hears from the client: not idle
    EchoServer ticker =
        resources.track(
            EchoServer.handling(
                s -> {
                  OutputStream out = s.getOutputStream();
                  for (int i = 0; i < 30; i++) {
                    out.write('t');
                    out.flush();
                    LockSupport.parkNanos(50_000_000); // the pace of the traffic
                  }
                  s.shutdownOutput();
                  s.getInputStream().readAllBytes();
                }));
    TcpProxy proxy = start(proxyTo(ticker).idleTimeout(Duration.ofMillis(600)));
    Socket client = connect(proxy);
    assertThat(client.getInputStream().readAllBytes())
        .hasSize(30); // all ticks, then the backend's FIN
    client.close(); // well within the idle timeout: the connection ends by itself
    proxy.awaitIdle(Duration.ofSeconds(10));
    assertThat(proxy.stats().idleTimeouts()).isZero();
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
  void closeReleasesThePortAndLeavesNoThreads() throws Exception {
    TcpProxy proxy =
        TcpProxy.builder()
            .listen("127.0.0.1", 0)
            .backends(backend(echo()))
            .drainTimeout(Duration.ofMillis(200))
            .start();
    Socket open = connect(proxy);
    open.getOutputStream().write('x');
    assertThat(open.getInputStream().read()).isEqualTo('x');
    assertThat(proxy.liveThreads())
        .isGreaterThanOrEqualTo(3); // accept, idle reaper, 2 per connection
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
    EchoServer echo = echo();
    for (int i = 0; i < 100; i++) {
      TcpProxy proxy =
          TcpProxy.builder()
              .listen("127.0.0.1", 0)
              .backends(backend(echo))
              .drainTimeout(Duration.ZERO)
              .start();
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
    TcpProxy proxy =
        TcpProxy.builder()
            .listen("127.0.0.1", 0)
            .backends(backend(echo()))
            .drainTimeout(Duration.ofSeconds(30))
            .start();
    Socket client = connect(proxy);
    client.getOutputStream().write('a');
    assertThat(client.getInputStream().read()).isEqualTo('a');
    CompletableFuture<Void> closing = CompletableFuture.runAsync(proxy::close);
    Await.until("draining", () -> proxy.stats().draining());
    assertThatThrownBy(() -> new Socket(LOOPBACK, proxy.port()).close())
        .isInstanceOf(IOException.class);
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
    EchoServer a = resources.track(EchoServer.named("a"));
    EchoServer b = resources.track(EchoServer.named("b"));
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
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("no listen port");
    assertThatThrownBy(() -> TcpProxy.builder().connectTimeout(Duration.ofSeconds(-1)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("connectTimeout: PT-1S (expected: > 0)");
    assertThatThrownBy(() -> TcpProxy.builder().idleTimeout(Duration.ofMillis(-5)))
        .hasMessage("idleTimeout: PT-0.005S (expected: >= 0)");
    Duration forever =
        Duration.ofSeconds(Long.MAX_VALUE); // overflowed nanoseconds in start(), after the bind
    assertThatThrownBy(() -> TcpProxy.builder().connectTimeout(forever))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("connectTimeout: PT")
        .hasMessageEndingWith("(expected: at most 292 years)");
    assertThatThrownBy(() -> TcpProxy.builder().idleTimeout(forever))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageEndingWith("(expected: at most 292 years)");
    assertThatThrownBy(() -> TcpProxy.builder().drainTimeout(forever))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageEndingWith("(expected: at most 292 years)");
    assertThatThrownBy(() -> TcpProxy.builder().bufferSize(10))
        .hasMessageContaining("bufferSize: 10");
    assertThatThrownBy(() -> TcpProxy.builder().maxBufferSize(32 * 1024 * 1024))
        .hasMessage("maxBufferSize: 33554432 (expected: 1024 to 16777216 bytes)");
    assertThatThrownBy(() -> TcpProxy.builder().bufferMemory(-1))
        .hasMessage("bufferMemory: -1 (expected: >= 0 bytes)");
    assertThatThrownBy(
            () ->
                TcpProxy.builder()
                    .listen(0)
                    .backends(Backend.of("127.0.0.1", 1))
                    .bufferSize(128 * 1024)
                    .maxBufferSize(64 * 1024)
                    .start())
        .isInstanceOf(IllegalStateException.class)
        .hasMessage(
            "maxBufferSize 65536 is smaller than bufferSize 131072: raise maxBufferSize or lower bufferSize");
    assertThatThrownBy(() -> TcpProxy.builder().maxConnections(0))
        .hasMessageContaining("maxConnections: 0");
    assertThatThrownBy(() -> TcpProxy.builder().connectAttempts(0))
        .hasMessageContaining("connectAttempts: 0");
    Cluster c = Cluster.of("c", Backend.of("127.0.0.1", 1));
    assertThatThrownBy(
            () -> TcpProxy.builder().listen(0).cluster(c).balancer(Balancer.random()).start())
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("brings its own balancer");
  }

  @Test
  void portInUseNamesTheAddress() throws Exception {
    try (ServerSocket taken = new ServerSocket(0, 1, LOOPBACK)) {
      assertThatThrownBy(
              () ->
                  TcpProxy.builder()
                      .listen("127.0.0.1", taken.getLocalPort())
                      .backends(Backend.of("127.0.0.1", 1))
                      .start())
          .isInstanceOf(BindException.class)
          .hasMessage("listen 127.0.0.1:" + taken.getLocalPort() + ": address already in use");
    }
    // 192.0.2.1 (TEST-NET-1) is no address of this machine: not "in use", and said so
    assertThatThrownBy(
            () ->
                TcpProxy.builder()
                    .listen("192.0.2.1", 0)
                    .backends(Backend.of("127.0.0.1", 1))
                    .start())
        .isInstanceOf(BindException.class)
        .hasMessageStartingWith("listen 192.0.2.1:0: cannot bind (");
  }
}
