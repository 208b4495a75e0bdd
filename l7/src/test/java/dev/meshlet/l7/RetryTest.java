package dev.meshlet.l7;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.meshlet.core.Balancer;
import dev.meshlet.core.Cluster;
import dev.meshlet.testkit.Await;
import java.io.IOException;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.util.Callback;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Which requests are retried, how often and how fast: replay, idempotency, budgets, backoff. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class RetryTest extends ResilienceTestSupport {
  @Test
  void postIsRetriedOnlyWhenItsBodyFitsTheReplayBuffer() throws Exception {
    Box x = resources.track(new Box("x", 30_000));
    Box y = resources.track(new Box("y", 30_000));
    Cluster cluster =
        Cluster.builder("c")
            .backends(x.backend(), y.backend())
            .balancer(Balancer.consistentHash())
            .build();
    Box bad = firstPick(cluster) == 0 ? x : y;
    Box good = bad == x ? y : x;
    bad.status = 503;
    HttpProxy proxy =
        resources.track(
            HttpProxy.builder()
                .listen("127.0.0.1", 0)
                .retryPolicy(fastRetries().replayBuffer(1024).build())
                .defaultRoute(cluster)
                .start());

    HttpResponse<String> small = post(proxy, 100);
    assertThat(small.statusCode()).isEqualTo(200);
    assertThat(small.body()).isEqualTo(good.name + ":100"); // the body was replayed whole
    assertThat(bad.requests.get()).isEqualTo(1);

    HttpResponse<String> big = post(proxy, 4096);
    assertThat(big.statusCode()).isEqualTo(503);
    assertThat(big.body()).isEqualTo(bad.name + ":4096");
    assertThat(good.requests.get()).isEqualTo(1);
    HttpProxyStats s = Idle.await(proxy).stats();
    assertThat(s.retries().count(HttpProxyStats.RetryReason.STATUS)).isEqualTo(1);
    assertThat(s.retries().notReplayable()).isEqualTo(1);
  }

  @Test
  void idempotentOnlyPolicyDoesNotRetryPost() throws Exception {
    Box bad = resources.track(new Box("bad", 30_000));
    bad.status = 503;
    Box good = resources.track(new Box("good", 30_000));
    Cluster cluster = Cluster.of("c", bad.backend(), good.backend());
    HttpProxy proxy =
        resources.track(
            HttpProxy.builder()
                .listen("127.0.0.1", 0)
                .route(r -> r.retryPolicy(fastRetries().idempotentOnly(true).build()).to(cluster))
                .start());
    int statuses503 = 0;
    for (int i = 0; i < 4; i++) {
      statuses503 += post(proxy, 10).statusCode() == 503 ? 1 : 0;
    }
    assertThat(statuses503)
        .isEqualTo(2); // round robin: every other POST hits bad and is not retried
    assertThat(Idle.await(proxy).stats().retries().total()).isZero();
  }

  @Test
  void retryBudgetStopsRetries() throws Exception {
    Box bad = resources.track(new Box("bad", 30_000));
    bad.status = 503;
    Cluster c = Cluster.of("c", bad.backend());
    HttpProxy proxy =
        resources.track(
            HttpProxy.builder()
                .listen("127.0.0.1", 0)
                .retryPolicy(fastRetries().budget(0, 0).build())
                .defaultRoute(c)
                .start());
    assertThat(get(proxy, "/x").statusCode()).isEqualTo(503);
    HttpProxyStats s = Idle.await(proxy).stats();
    assertThat(s.retries().total()).isZero();
    assertThat(s.retries().budgetExhausted()).isEqualTo(1);
    assertThat(bad.requests.get()).isEqualTo(1);
  }

  @Test
  void retryBudgetIsPerCluster() throws Exception {
    CountDownLatch hold = new CountDownLatch(1);
    Box a = resources.track(new Box("a", 30_000));
    Box b = resources.track(new Box("b", 30_000));
    for (Box box : List.of(a, b)) {
      box.oddRequestsFail = true;
      box.hold = hold;
    }
    Cluster ca = Cluster.of("ca", a.backend());
    Cluster cb = Cluster.of("cb", b.backend());
    HttpProxy proxy =
        resources.track(
            HttpProxy.builder()
                .listen("127.0.0.1", 0)
                .retryPolicy(fastRetries().budget(0, 1).build()) // one retry in flight per cluster
                .route(r -> r.pathPrefix("/a").to(ca))
                .defaultRoute(cb)
                .start());
    // 503 then a retry that waits: ca's one retry is in flight
    CompletableFuture<HttpResponse<String>> first =
        http.sendAsync(
            HttpRequest.newBuilder(proxy.uri().resolve("/a1")).build(),
            HttpResponse.BodyHandlers.ofString());
    Await.until("ca's retry in flight", () -> a.requests.get() == 2);
    assertThat(ca.stats().retriesActive()).isEqualTo(1);
    // ca's budget is spent: the next 503 is not retried
    assertThat(get(proxy, "/a2").statusCode()).isEqualTo(503);
    // cb has its own budget
    CompletableFuture<HttpResponse<String>> other =
        http.sendAsync(
            HttpRequest.newBuilder(proxy.uri().resolve("/b1")).build(),
            HttpResponse.BodyHandlers.ofString());
    Await.until("cb's retry in flight", () -> b.requests.get() == 2);
    hold.countDown();
    assertThat(first.get(20, TimeUnit.SECONDS).statusCode()).isEqualTo(200);
    assertThat(other.get(20, TimeUnit.SECONDS).statusCode()).isEqualTo(200);
    HttpProxyStats s = Idle.await(proxy).stats();
    assertThat(s.retries().count(HttpProxyStats.RetryReason.STATUS)).isEqualTo(2);
    assertThat(s.retries().budgetExhausted()).isEqualTo(1);
    assertThat(s.clusters().get("ca").retryOverflows()).isEqualTo(1);
    assertThat(s.clusters().get("cb").retryOverflows()).isZero();
    assertThat(s.clusters().get("ca").retriesActive()).isZero();
  }

  @Test
  void noRetryOnceTheResponseHasBegun() throws Exception {
    AtomicInteger hits = new AtomicInteger();
    AtomicInteger diesOnPort = new AtomicInteger();
    Request.Handler handler =
        (request, response, callback) -> {
          hits.incrementAndGet();
          if (Request.getLocalPort(request)
              == diesOnPort.get()) { // sends part of its body, then dies
            response.getHeaders().put("Content-Length", 1000);
            response.write(
                false,
                ByteBuffer.wrap(new byte[100]),
                Callback.from(
                    () -> callback.failed(new IOException("backend dies mid-body")),
                    callback::failed));
          } else {
            response.write(
                true, ByteBuffer.wrap("ok".getBytes(StandardCharsets.US_ASCII)), callback);
          }
          return true;
        };
    TestBackend x = resources.track(TestBackend.with("x", handler));
    TestBackend y = resources.track(TestBackend.with("y", handler));
    Cluster cluster =
        Cluster.builder("c")
            .backends(x.backend(), y.backend())
            .balancer(Balancer.consistentHash())
            .build();
    diesOnPort.set(firstPick(cluster) == 0 ? x.port() : y.port());
    HttpProxy proxy =
        resources.track(
            HttpProxy.builder()
                .listen("127.0.0.1", 0)
                .retryPolicy(fastRetries().build())
                .defaultRoute(cluster)
                .start());
    boolean cut = false;
    try {
      http.send(
          HttpRequest.newBuilder(proxy.uri().resolve("/x")).build(),
          HttpResponse.BodyHandlers.ofString());
    } catch (IOException expected) {
      cut = true; // the client sees the body cut short
    }
    Idle.await(proxy);
    assertThat(cut).isTrue();
    assertThat(hits.get()).isEqualTo(1);
    assertThat(proxy.stats().retries().total()).isZero();
  }

  @Test
  void retryPolicyValidatesAndBacksOffWithinItsBounds() {
    assertThatThrownBy(() -> RetryPolicy.builder().maxAttempts(0).build())
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("maxAttempts: 0 (expected: 1-10)");
    assertThatThrownBy(
            () ->
                RetryPolicy.builder().backoff(Duration.ofMillis(10), Duration.ofMillis(1)).build())
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageStartingWith("backoffMax: PT0.001S");
    assertThatThrownBy(() -> RetryPolicy.builder().retryOnStatus(42).build())
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("retryOn status: 42 (expected: 100-599)");
    RetryPolicy p =
        RetryPolicy.builder().backoff(Duration.ofMillis(10), Duration.ofMillis(50)).build();
    Random random = new Random(1);
    for (int i = 0; i < 1000; i++) {
      assertThat(p.backoffNanos(1, random.nextLong())).isBetween(0L, 10_000_000L);
      assertThat(p.backoffNanos(5, random.nextLong())).isBetween(0L, 50_000_000L);
    }
    assertThat(RetryPolicy.none().retries()).isFalse();
    assertThat(p.toBuilder().maxAttempts(2).build().retryOn())
        .containsExactlyInAnyOrder(502, 503, 504);
  }
}
