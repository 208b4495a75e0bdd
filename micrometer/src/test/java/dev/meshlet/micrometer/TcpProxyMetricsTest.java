package dev.meshlet.micrometer;

import static dev.meshlet.micrometer.HttpProxyMetricsTest.counter;
import static org.assertj.core.api.Assertions.assertThat;

import dev.meshlet.core.Backend;
import dev.meshlet.l4.TcpProxy;
import dev.meshlet.testkit.Await;
import dev.meshlet.testkit.EchoServer;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** {@link TcpProxyMetrics} in a real registry, against bytes sent through a real proxy. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class TcpProxyMetricsTest {

  @Test
  void connectionsAndBytesMatchTheTrafficSent() throws Exception {
    SimpleMeterRegistry registry = new SimpleMeterRegistry();
    try (EchoServer echo = EchoServer.start();
        TcpProxy proxy =
            TcpProxy.builder()
                .listen("127.0.0.1", 0)
                .backends(Backend.of("127.0.0.1", echo.port()).withName("echo"))
                .start()) {
      new TcpProxyMetrics("db", proxy).bindTo(registry);
      for (int i = 0; i < 2; i++) {
        try (Socket s = new Socket("127.0.0.1", proxy.port())) {
          s.setSoTimeout(10_000);
          s.getOutputStream().write("hello".getBytes(StandardCharsets.US_ASCII));
          assertThat(s.getInputStream().readNBytes(5))
              .isEqualTo("hello".getBytes(StandardCharsets.US_ASCII));
        }
      }
      proxy.awaitIdle(Duration.ofSeconds(10));
      Await.until(
          "both connections in the registry",
          () -> counter(registry, "meshlet.downstream.cx.total", "listener", "db") == 2);
      Await.until(
          "both connections' bytes and lengths in the registry",
          () ->
              counter(registry, "meshlet.downstream.cx.rx.bytes.total", "listener", "db") == 10
                  && registry
                          .get("meshlet.downstream.cx.length")
                          .tag("listener", "db")
                          .functionTimer()
                          .count()
                      == 2);
      assertThat(counter(registry, "meshlet.downstream.cx.tx.bytes.total", "listener", "db"))
          .isEqualTo(10);
      assertThat(registry.get("meshlet.downstream.cx.active").tag("listener", "db").gauge().value())
          .isZero();
      assertThat(
              registry
                  .get("meshlet.upstream.cx.connect.time")
                  .tag("listener", "db")
                  .functionTimer()
                  .count())
          .isEqualTo(2);
      assertThat(
              counter(
                  registry,
                  "meshlet.upstream.cx.total",
                  "listener",
                  "db",
                  "cluster",
                  proxy.cluster().name(),
                  "backend",
                  "echo"))
          .isEqualTo(2);
      assertThat(
              registry
                  .get("meshlet.endpoint.healthy")
                  .tags("listener", "db", "backend", "echo")
                  .gauge()
                  .value())
          .isEqualTo(1);
    }
  }
}
