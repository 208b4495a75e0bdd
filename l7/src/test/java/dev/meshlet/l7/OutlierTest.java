package dev.meshlet.l7;

import static org.assertj.core.api.Assertions.assertThat;

import dev.meshlet.core.Cluster;
import dev.meshlet.core.OutlierDetection;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** What a try's outcome tells the cluster's outlier detection. */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class OutlierTest {

  @Test
  void backendThatDiesMidBodyCountsAsAFailureAndIsEjected() throws Exception {
    try (CannedBackend backend = new CannedBackend();
        Cluster cluster =
            Cluster.builder("web")
                .backends(backend.backend())
                .outlierDetection(OutlierDetection.consecutiveFailures(2))
                .build();
        HttpProxy proxy =
            HttpProxy.builder().listen("127.0.0.1", 0).defaultRoute(cluster).start()) {
      // a 200 head promising 100 bytes, 3 of them, then the connection closes
      backend.canned.put("/cut", "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc");
      for (int i = 0; i < 2; i++) {
        Raw.Reply r =
            Raw.exchange(proxy.port(), "GET /cut HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        assertThat(r.raw())
            .as("request %d gets the head, then a cut body", i)
            .startsWith("HTTP/1.1 200");
      }
      proxy.awaitIdle(Duration.ofSeconds(5));
      assertThat(cluster.endpoints().get(0).ejected())
          .as("two responses cut mid-body are two consecutive failures; stats: %s", cluster.stats())
          .isTrue();
    }
  }
}
