package dev.meshlet.l4;

import static org.assertj.core.api.Assertions.assertThat;

import dev.meshlet.core.Backend;
import dev.meshlet.core.Balancer;
import dev.meshlet.testkit.EchoServer;
import java.io.InputStream;
import java.net.Socket;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.logging.Handler;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A backend whose host does not resolve is a counted, logged failure, and the others still serve.
 */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class UnresolvedBackendTest {

  @Test
  void unresolvedBackendIsCountedLoggedOnceAndSkipped() throws Exception {
    List<String> warnings = new CopyOnWriteArrayList<>();
    Logger jul = Logger.getLogger(TcpProxy.class.getName());
    Handler capture =
        new Handler() {
          @Override
          public void publish(LogRecord r) {
            warnings.add(r.getMessage());
          }

          @Override
          public void flush() {}

          @Override
          public void close() {}
        };
    jul.addHandler(capture);
    try (EchoServer live = EchoServer.start();
        TcpProxy proxy =
            TcpProxy.builder()
                .listen("127.0.0.1", 0)
                // RFC 6761: a name under .invalid never resolves, and no resolver is asked twice
                // for it here
                .backends(Backend.of("nothing.invalid", 80), Backend.of("127.0.0.1", live.port()))
                .balancer(Balancer.roundRobin())
                .start()) {
      for (int i = 0; i < 6; i++) {
        try (Socket s = new Socket("127.0.0.1", proxy.port())) {
          s.setSoTimeout(5000);
          s.getOutputStream().write('x');
          InputStream in = s.getInputStream();
          assertThat(in.read())
              .as("connection %d is served by the backend that resolves", i)
              .isEqualTo('x');
        }
      }
      proxy.awaitIdle(Duration.ofSeconds(5));
      TcpProxyStats stats = proxy.stats();
      assertThat(stats.unresolved()).as("attempts that met the unresolved backend").isPositive();
      assertThat(stats.connectFailures()).isGreaterThanOrEqualTo(stats.unresolved());
      assertThat(stats.noBackend()).isZero();
      assertThat(
              warnings.stream()
                  .filter(w -> w.contains("nothing.invalid") && w.contains("did not resolve")))
          .as("warnings: %s", warnings)
          .hasSize(1);
    } finally {
      jul.removeHandler(capture);
    }
  }
}
