package dev.meshlet.l7;

import static org.assertj.core.api.Assertions.assertThat;

import dev.meshlet.core.Cluster;
import dev.meshlet.core.ClusterStats;
import dev.meshlet.testkit.Await;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Circuit breakers and pending limits: overflow answers 503 at once and says why. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class CircuitBreakingTest extends ResilienceTestSupport {
  @Test
  void circuitBreakerOverflowIs503AtOnceWithTheReason() throws Exception {
    Box b = resources.track(new Box("b", 30_000));
    CountDownLatch hold = new CountDownLatch(1);
    b.hold = hold;
    Cluster c = Cluster.builder("slow").backends(b.backend()).maxActive(1).build();
    HttpProxy proxy =
        resources.track(HttpProxy.builder().listen("127.0.0.1", 0).defaultRoute(c).start());
    CompletableFuture<HttpResponse<String>> first =
        http.sendAsync(
            HttpRequest.newBuilder(proxy.uri().resolve("/1")).build(),
            HttpResponse.BodyHandlers.ofString());
    Await.until("the first request reached the backend", () -> b.requests.get() == 1);
    long start = System.nanoTime();
    HttpResponse<String> second = get(proxy, "/2");
    long millis = (System.nanoTime() - start) / 1_000_000;
    assertThat(second.statusCode()).isEqualTo(503);
    assertThat(second.headers().firstValue("X-Meshlet-Overflow"))
        .hasValue("cluster slow max requests");
    assertThat(millis).as("ms, while the first is held for good").isLessThan(5_000);
    hold.countDown();
    assertThat(first.get(20, TimeUnit.SECONDS).statusCode()).isEqualTo(200);
    HttpProxyStats s = Idle.await(proxy).stats();
    assertThat(s.total().errors(HttpProxyStats.ErrorKind.OVERFLOW)).isEqualTo(1);
    assertThat(c.stats().overflows()).isEqualTo(1);
    assertThat(c.stats().active()).isZero();
    assertThat(b.requests.get()).isEqualTo(1);
  }

  @Test
  void pendingRequestsOverflowIs503WithTheReason() throws Exception {
    Box b = resources.track(new Box("b", 30_000));
    CountDownLatch hold = new CountDownLatch(1);
    b.hold = hold;
    Cluster c = Cluster.of("c", b.backend());
    HttpProxy proxy =
        resources.track(
            HttpProxy.builder()
                .listen("127.0.0.1", 0)
                .defaultRoute(c)
                .maxConnectionsPerBackend(1)
                .maxPendingRequestsPerBackend(1)
                .start());
    CompletableFuture<HttpResponse<String>> first =
        http.sendAsync(
            HttpRequest.newBuilder(proxy.uri().resolve("/1")).build(),
            HttpResponse.BodyHandlers.ofString());
    Await.until("the first request reached the backend", () -> b.requests.get() == 1);
    List<CompletableFuture<HttpResponse<String>>> more = new ArrayList<>();
    for (int i = 0; i < 3; i++) { // one of them waits for the connection, two overflow
      more.add(
          http.sendAsync(
              HttpRequest.newBuilder(proxy.uri().resolve("/m" + i)).build(),
              HttpResponse.BodyHandlers.ofString()));
    }
    Await.until("two refused", () -> more.stream().filter(CompletableFuture::isDone).count() == 2);
    for (CompletableFuture<HttpResponse<String>> f : more) {
      if (f.isDone()) {
        assertThat(f.get().statusCode()).isEqualTo(503);
        assertThat(f.get().headers().firstValue("X-Meshlet-Overflow"))
            .hasValue("backend b max pending requests");
      }
    }
    hold.countDown();
    assertThat(first.get(20, TimeUnit.SECONDS).statusCode()).isEqualTo(200);
    for (CompletableFuture<HttpResponse<String>> f : more) {
      assertThat(f.get(20, TimeUnit.SECONDS).statusCode()).isIn(200, 503);
    }
    HttpProxyStats s = Idle.await(proxy).stats();
    assertThat(s.total().errors(HttpProxyStats.ErrorKind.PENDING_OVERFLOW)).isEqualTo(2);
    assertThat(c.endpoints().get(0).stats().failures())
        .isZero(); // an overflow is not the backend's fault
  }

  @Test
  void clusterPendingLimitCountsRequestsWaitingForAConnectionAcrossThePool() throws Exception {
    Box a = resources.track(new Box("a", 30_000));
    Box b = resources.track(new Box("b", 30_000));
    CountDownLatch hold = new CountDownLatch(1);
    a.hold = hold;
    b.hold = hold;
    Cluster c = Cluster.builder("pool").backends(a.backend(), b.backend()).maxPending(2).build();
    HttpProxy proxy =
        resources.track(
            HttpProxy.builder()
                .listen("127.0.0.1", 0)
                .defaultRoute(c)
                .maxConnectionsPerBackend(1)
                .start());
    List<CompletableFuture<HttpResponse<String>>> busy = new ArrayList<>();
    for (int i = 0; i < 2; i++) { // one per backend: both connections busy
      busy.add(
          http.sendAsync(
              HttpRequest.newBuilder(proxy.uri().resolve("/b" + i)).build(),
              HttpResponse.BodyHandlers.ofString()));
    }
    Await.until("both backends busy", () -> a.requests.get() + b.requests.get() == 2);
    List<CompletableFuture<HttpResponse<String>>> more = new ArrayList<>();
    for (int i = 0; i < 5; i++) { // two wait for a connection (one per backend), three overflow
      more.add(
          http.sendAsync(
              HttpRequest.newBuilder(proxy.uri().resolve("/m" + i)).build(),
              HttpResponse.BodyHandlers.ofString()));
    }
    Await.until(
        "three refused", () -> more.stream().filter(CompletableFuture::isDone).count() == 3);
    assertThat(c.stats().pending()).isEqualTo(2);
    for (CompletableFuture<HttpResponse<String>> f : more) {
      if (f.isDone()) {
        assertThat(f.get().statusCode()).isEqualTo(503);
        assertThat(f.get().headers().firstValue("X-Meshlet-Overflow"))
            .hasValue("cluster pool max pending requests");
      }
    }
    hold.countDown();
    for (CompletableFuture<HttpResponse<String>> f : busy) {
      assertThat(f.get(20, TimeUnit.SECONDS).statusCode()).isEqualTo(200);
    }
    for (CompletableFuture<HttpResponse<String>> f : more) {
      assertThat(f.get(20, TimeUnit.SECONDS).statusCode()).isIn(200, 503);
    }
    HttpProxyStats s = Idle.await(proxy).stats();
    assertThat(s.total().errors(HttpProxyStats.ErrorKind.PENDING_OVERFLOW)).isEqualTo(3);
    ClusterStats cs = s.clusters().get("pool");
    assertThat(cs.pendingOverflows()).isEqualTo(3);
    assertThat(cs.pending()).isZero();
    assertThat(cs.active()).isZero();
    assertThat(a.requests.get() + b.requests.get()).isEqualTo(4);
  }
}
