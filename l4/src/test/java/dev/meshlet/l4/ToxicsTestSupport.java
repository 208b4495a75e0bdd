package dev.meshlet.l4;

import static org.assertj.core.api.Assertions.assertThat;

import dev.meshlet.core.Backend;
import dev.meshlet.testkit.EchoServer;
import dev.meshlet.testkit.NoLeakedThreads;
import dev.meshlet.testkit.Resources;
import java.io.IOException;
import java.net.InetAddress;
import java.net.Socket;
import java.time.Duration;
import org.junit.jupiter.api.AutoClose;

/** Backends, proxies and sockets for the toxics' tests; after each test no proxy thread is left. */
abstract class ToxicsTestSupport {
  static final InetAddress LOOPBACK = InetAddress.getLoopbackAddress();

  static final Duration WAIT = Duration.ofSeconds(10);

  @AutoClose
  final Resources resources =
      Resources.thenCheck(
          () ->
              assertThat(NoLeakedThreads.live("meshlet-l4-"))
                  .as("proxy threads left after close")
                  .isEmpty());

  TcpProxy proxyTo(EchoServer server) throws IOException {
    return proxyTo(server, 7L);
  }

  TcpProxy proxyTo(EchoServer server, long seed) throws IOException {
    return resources.track(
        TcpProxy.builder()
            .listen("127.0.0.1", 0)
            .backends(Backend.of("127.0.0.1", server.port()))
            .seed(seed)
            .start());
  }

  Socket connect(TcpProxy proxy) throws IOException {
    Socket s = resources.track(new Socket(LOOPBACK, proxy.port()));
    s.setSoTimeout(10_000);
    s.setTcpNoDelay(true);
    return s;
  }

  static long roundTripNanos(Socket s) throws IOException {
    long start = System.nanoTime();
    s.getOutputStream().write('p');
    assertThat(s.getInputStream().read()).isEqualTo('p');
    return System.nanoTime() - start;
  }
}
