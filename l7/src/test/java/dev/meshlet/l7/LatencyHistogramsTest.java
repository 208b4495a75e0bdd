package dev.meshlet.l7;

import static org.assertj.core.api.Assertions.assertThat;

import dev.meshlet.core.Cluster;
import dev.meshlet.testkit.NoLeakedThreads;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

/** {@link HttpProxyBuilder#latencyHistograms(boolean)}: off, only the histograms stay empty. */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
@ExtendWith(NoLeakedThreads.class)
class LatencyHistogramsTest {

  private static HttpProxyStats.Counts afterThreeRequests(boolean histograms) throws Exception {
    try (TestBackend backend = TestBackend.named("app");
        HttpProxy proxy =
            HttpProxy.builder()
                .listen("127.0.0.1", 0)
                .latencyHistograms(histograms)
                .defaultRoute(Cluster.of("app", backend.backend()))
                .start()) {
      for (int i = 0; i < 3; i++) {
        assertThat(
                Raw.exchange(proxy.port(), "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
                    .status())
            .isEqualTo(200);
      }
      proxy.awaitIdle(Duration.ofSeconds(10));
      return proxy.stats().total();
    }
  }

  @Test
  void onByDefaultTheyCountEveryRequest() throws Exception {
    HttpProxyStats.Counts c = afterThreeRequests(true);
    assertThat(c.totalTime().count()).isEqualTo(3);
    assertThat(c.upstreamTime().count()).isEqualTo(3);
  }

  @Test
  void offTheyStayEmptyAndTheCountersStillCount() throws Exception {
    HttpProxyStats.Counts c = afterThreeRequests(false);
    assertThat(c.totalTime().count()).isZero();
    assertThat(c.upstreamTime().count()).isZero();
    assertThat(c.requests()).isEqualTo(3);
    assertThat(c.status2xx()).isEqualTo(3);
  }
}
