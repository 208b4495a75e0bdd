package dev.meshlet.l4;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.meshlet.core.Backend;
import dev.meshlet.testkit.EchoServer;
import dev.meshlet.testkit.NoLeakedThreads;
import dev.meshlet.testkit.Resources;
import java.io.IOException;
import java.net.ConnectException;
import java.net.InetAddress;
import java.net.Socket;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.AutoClose;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Taking the proxy down and up again, as Toxiproxy's {@code enabled} flag does. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class DisableTest {
  private static final InetAddress LOOPBACK = InetAddress.getLoopbackAddress();
  private static final Duration WAIT = Duration.ofSeconds(10);

  @AutoClose
  private final Resources resources =
      Resources.thenCheck(
          () ->
              assertThat(NoLeakedThreads.live("meshlet-l4-"))
                  .as("proxy threads left after close")
                  .isEmpty());

  private TcpProxy proxyTo(EchoServer server) throws IOException {
    return resources.track(
        TcpProxy.builder()
            .listen("127.0.0.1", 0)
            .backends(Backend.of("127.0.0.1", server.port()))
            .seed(7L)
            .start());
  }

  private Socket connect(TcpProxy proxy) throws IOException {
    Socket s = resources.track(new Socket(LOOPBACK, proxy.port()));
    s.setSoTimeout(10_000);
    s.setTcpNoDelay(true);
    return s;
  }

  private static long roundTripNanos(Socket s) throws IOException {
    long start = System.nanoTime();
    s.getOutputStream().write('p');
    assertThat(s.getInputStream().read()).isEqualTo('p');
    return System.nanoTime() - start;
  }

  @Test
  void disableRefusesNewConnectionsAndCutsOpenOnes() throws Exception {
    EchoServer echo = resources.track(EchoServer.start());
    TcpProxy proxy = proxyTo(echo);
    Socket open = connect(proxy);
    roundTripNanos(open);
    proxy.disable();
    assertThat(proxy.isEnabled()).isFalse();
    assertThat(open.getInputStream().read()).isEqualTo(-1);
    int backendsBefore = echo.accepted();

    assertThatThrownBy(() -> connect(proxy))
        .isInstanceOf(ConnectException.class)
        .hasMessageContaining("refused");
    assertThat(echo.accepted()).as("backend connections while down").isEqualTo(backendsBefore);
    proxy.disable(); // idempotent

    proxy.enable();
    roundTripNanos(connect(proxy)); // the same port again
    proxy.enable(); // idempotent
    roundTripNanos(connect(proxy));
    proxy.disable();
    proxy.close(); // closing a disabled proxy ends its acceptor
    assertThatThrownBy(proxy::enable).isInstanceOf(IllegalStateException.class);
  }

  @Test
  void disableEnableAndCloseNeverWaitForTheAcceptor() throws Exception {
    // Each of these once waited out a 10 s deadline for an acceptor that had nothing left to
    // report.
    EchoServer echo = resources.track(EchoServer.start());
    TcpProxy proxy = proxyTo(echo);
    long t0 = System.nanoTime();
    proxy.disable();
    proxy.enable();
    proxy.close(); // right after enable(): the acceptor may not have re-taken its lock yet
    assertThat(Duration.ofNanos(System.nanoTime() - t0)).isLessThan(Duration.ofSeconds(5));

    TcpProxy racing = proxyTo(echo);
    AtomicBoolean stop = new AtomicBoolean();
    Thread enabler =
        Thread.ofPlatform()
            .start(
                () -> {
                  while (!stop.get()) {
                    racing.enable();
                  }
                });
    try {
      long worst = 0;
      for (int i = 0; i < 200; i++) { // disable() against a concurrent enable()
        long start = System.nanoTime();
        racing.disable();
        worst = Math.max(worst, System.nanoTime() - start);
      }
      assertThat(Duration.ofNanos(worst)).as("slowest disable()").isLessThan(Duration.ofSeconds(5));
    } finally {
      stop.set(true);
      enabler.join();
    }
    racing.enable();
    try (Socket s = connect(racing)) {
      roundTripNanos(s); // still forwards
    }
    racing.awaitIdle(WAIT); // so close() has nothing to drain
    long t1 = System.nanoTime();
    racing.close();
    assertThat(Duration.ofNanos(System.nanoTime() - t1)).isLessThan(Duration.ofSeconds(5));
  }
}
