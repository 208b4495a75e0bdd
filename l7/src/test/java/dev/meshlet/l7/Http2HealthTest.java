package dev.meshlet.l7;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.meshlet.core.Backend;
import dev.meshlet.core.Cluster;
import dev.meshlet.core.HealthCheck;
import dev.meshlet.testkit.Await;
import dev.meshlet.testkit.NoLeakedThreads;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.SocketTimeoutException;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

/** {@link HttpHealthCheck#h2c}: probes in h2c, as the proxy speaks to an H2C cluster. */
@ExtendWith(NoLeakedThreads.class)
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class Http2HealthTest {
  private static boolean probe(HealthCheck hc, Cluster c) throws Exception {
    return hc.probe().check(c.endpoints().get(0), Duration.ofSeconds(5));
  }

  @Test
  void probesAnH2cBackendAndReadsItsStatus() throws Exception {
    AtomicInteger status = new AtomicInteger(200);
    try (H2Backend b =
            H2Backend.h2c(
                "b",
                (request, response, callback) -> {
                  response.setStatus(status.get());
                  response.write(true, null, callback);
                  return true;
                });
        Cluster c = Cluster.of("c", b.backend())) {
      HealthCheck hc = HttpHealthCheck.h2c("/healthz");
      assertThat(probe(hc, c)).isTrue();
      assertThat(b.last().protocol()).isEqualTo("HTTP/2.0");
      assertThat(b.last().authority()).isEqualTo("127.0.0.1:" + b.port());
      status.set(503);
      assertThat(probe(hc, c)).isFalse();
      assertThat(probe(HttpHealthCheck.h2c("/healthz", 200, 503), c)).isTrue();
      status.set(418); // a status HPACK's static table lacks: sent as a literal
      assertThat(probe(HttpHealthCheck.h2c("/healthz", 418), c)).isTrue();
    }
  }

  @Test
  void anHttp11OnlyBackendFailsTheProbe() throws Exception {
    try (TestBackend b = TestBackend.named("old");
        Cluster c = Cluster.of("c", b.backend())) {
      assertThat(probe(HttpHealthCheck.h2c("/healthz"), c)).isFalse();
    }
  }

  @Test
  void aSilentBackendTimesOut() throws Exception {
    try (ServerSocket silent = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        Cluster c = Cluster.of("c", Backend.of("127.0.0.1", silent.getLocalPort()))) {
      long start = System.nanoTime();
      assertThatThrownBy(
              () ->
                  HttpHealthCheck.h2c("/healthz")
                      .probe()
                      .check(c.endpoints().get(0), Duration.ofMillis(200)))
          .isInstanceOf(SocketTimeoutException.class);
      assertThat((System.nanoTime() - start) / 1_000_000).isBetween(150L, 5_000L);
    }
  }

  @Test
  void aClusterCheckedInH2cGoesUnhealthyAndBack() throws Exception {
    AtomicInteger status = new AtomicInteger(200);
    try (H2Backend b =
            H2Backend.h2c(
                "b",
                (request, response, callback) -> {
                  response.setStatus(status.get());
                  response.write(true, null, callback);
                  return true;
                });
        Cluster c =
            Cluster.builder("c")
                .backends(b.backend())
                .healthCheck(
                    HttpHealthCheck.h2c("/healthz")
                        .withInterval(Duration.ofMillis(50))
                        .withThresholds(1, 1))
                .build()) {
      Await.until("healthy", () -> c.endpoints().get(0).healthy());
      status.set(500);
      Await.until("unhealthy", () -> !c.endpoints().get(0).healthy());
      status.set(200);
      Await.until("healthy again", () -> c.endpoints().get(0).healthy());
    }
  }
}
