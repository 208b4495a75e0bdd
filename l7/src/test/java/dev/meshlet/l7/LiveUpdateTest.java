package dev.meshlet.l7;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.meshlet.core.Cluster;
import dev.meshlet.testkit.Await;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Replacing routes under load and draining on close: no request lost, bad tables refused. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class LiveUpdateTest extends ResilienceTestSupport {
  @Test
  void liveRouteUpdateUnderLoadLosesNoRequest() throws Exception {
    Box oldBox = resources.track(new Box("old", 30_000));
    Box newBox = resources.track(new Box("new", 30_000));
    Cluster oldCluster = Cluster.of("old", oldBox.backend());
    Cluster newCluster = Cluster.of("new", newBox.backend());
    HttpProxy proxy =
        resources.track(
            HttpProxy.builder()
                .listen("127.0.0.1", 0)
                .route(r -> r.name("api").pathPrefix("/api/").to(oldCluster))
                .start());
    ScheduledExecutorService pace = Executors.newSingleThreadScheduledExecutor();
    ConcurrentLinkedQueue<CompletableFuture<HttpResponse<String>>> all =
        new ConcurrentLinkedQueue<>();
    int total = 1500; // 500 requests/s for 3 s
    CountDownLatch issued = new CountDownLatch(total);
    AtomicInteger n = new AtomicInteger();
    var task =
        pace.scheduleAtFixedRate(
            () -> {
              if (n.getAndIncrement() < total) {
                all.add(
                    http.sendAsync(
                        HttpRequest.newBuilder(proxy.uri().resolve("/api/x"))
                            .timeout(Duration.ofSeconds(20))
                            .build(),
                        HttpResponse.BodyHandlers.ofString()));
                issued.countDown();
              }
            },
            0,
            2,
            TimeUnit.MILLISECONDS);
    try {
      Await.until("half the load issued", () -> n.get() >= total / 2);
      proxy.replaceRoutes(t -> t.route(r -> r.name("api").pathPrefix("/api/").to(newCluster)));
      int afterUpdate = n.get();
      issued.await(30, TimeUnit.SECONDS);
      task.cancel(false);
      int ok = 0;
      int lost = 0;
      int i = 0;
      Map<String, Integer> reasons = new TreeMap<>();
      List<String> tail = new ArrayList<>();
      for (CompletableFuture<HttpResponse<String>> f : all) {
        try {
          HttpResponse<String> r = f.get(20, TimeUnit.SECONDS);
          if (r.statusCode() == 200) {
            ok++;
          } else {
            lost++;
            reasons.merge(r.statusCode() + " " + r.body(), 1, Integer::sum);
          }
          if (i++ > afterUpdate + 50) {
            tail.add(r.body());
          }
        } catch (Exception e) {
          lost++;
          Throwable cause = e.getCause() != null ? e.getCause() : e;
          reasons.merge(
              cause.getClass().getSimpleName() + ": " + cause.getMessage(), 1, Integer::sum);
        }
      }
      System.out.printf(
          "live update: %d requests, %d ok, %d lost; old served %d, new served %d%n",
          all.size(), ok, lost, oldBox.requests.get(), newBox.requests.get());
      assertThat(lost).as("lost requests by reason: %s", reasons).isZero();
      assertThat(ok).isEqualTo(total);
      assertThat(tail).isNotEmpty().containsOnly("new");
      assertThat(oldBox.requests.get()).isPositive();
      assertThat(proxy.routes())
          .extracting(HttpRoute::clusters)
          .containsExactly(List.of(newCluster));
    } finally {
      pace.shutdownNow();
    }
  }

  @Test
  void closeReportsDrainingWhileRequestsFinish() throws Exception {
    Box b = resources.track(new Box("b", 30_000));
    CountDownLatch hold = new CountDownLatch(1);
    b.hold = hold;
    HttpProxy proxy =
        HttpProxy.builder()
            .listen("127.0.0.1", 0)
            .drainTimeout(Duration.ofSeconds(10))
            .defaultRoute(Cluster.of("c", b.backend()))
            .start();
    CompletableFuture<HttpResponse<String>> inFlight =
        http.sendAsync(
            HttpRequest.newBuilder(proxy.uri().resolve("/1")).build(),
            HttpResponse.BodyHandlers.ofString());
    Await.until("request at the backend", () -> b.requests.get() == 1);
    assertThat(proxy.stats().draining()).isFalse();
    Thread closer = Thread.ofVirtual().start(proxy::close);
    Await.until("draining", () -> proxy.stats().draining());
    assertThat(proxy.stats().total().inFlight()).isEqualTo(1);
    hold.countDown();
    assertThat(inFlight.get(20, TimeUnit.SECONDS).statusCode()).isEqualTo(200);
    closer.join();
    assertThat(proxy.stats().total().inFlight()).isZero();
  }

  @Test
  void replaceRoutesValidatesTheNewTable() throws Exception {
    Box b = resources.track(new Box("b", 30_000));
    Cluster c = Cluster.of("c", b.backend());
    HttpProxy proxy =
        resources.track(HttpProxy.builder().listen("127.0.0.1", 0).defaultRoute(c).start());
    assertThatThrownBy(() -> proxy.replaceRoutes(t -> {}))
        .isInstanceOf(IllegalStateException.class)
        .hasMessageStartingWith("no routes");
    assertThatThrownBy(
            () ->
                proxy.replaceRoutes(
                    t -> t.route(r -> r.name("x").to(c)).route(r -> r.name("x").to(c))))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("used twice");
    assertThat(get(proxy, "/still").statusCode()).isEqualTo(200); // the old table is untouched
    proxy.close();
    assertThatThrownBy(() -> proxy.replaceRoutes(t -> t.defaultRoute(c)))
        .isInstanceOf(IllegalStateException.class);
  }
}
