package dev.meshlet.l7;

import static org.assertj.core.api.Assertions.assertThat;

import dev.meshlet.core.Backend;
import dev.meshlet.core.Cluster;
import dev.meshlet.core.ClusterStats;
import dev.meshlet.core.Endpoint;
import dev.meshlet.core.HealthCheck;
import dev.meshlet.core.OutlierDetection;
import dev.meshlet.core.Ticker;
import dev.meshlet.testkit.Await;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Outlier ejection, slow start and active HTTP health checks, with backends going down and up. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class HealthAndEjectionTest extends ResilienceTestSupport {
  /** A manual clock for ejection and slow-start windows. */
  static final class ManualTicker implements Ticker {
    final AtomicLong now = new AtomicLong(1_000_000_000L);

    @Override
    public long nanoTime() {
      return now.get();
    }

    void advance(Duration d) {
      now.addAndGet(d.toNanos());
    }
  }

  @Test
  void backendKilledUnderLoadFailsNoRequestLeavesWithinDetectionAndReturnsWithSlowStart()
      throws Exception {
    ManualTicker ticker = new ManualTicker();
    Box a = resources.track(new Box("a", 30_000));
    Box b = resources.track(new Box("b", 30_000));
    Cluster cluster =
        Cluster.builder("web")
            .backends(a.backend(), b.backend())
            .outlierDetection(
                OutlierDetection.consecutiveFailures(3)
                    .withEjectionTime(Duration.ofSeconds(30), Duration.ofSeconds(60)))
            .slowStart(Duration.ofSeconds(10))
            .ticker(ticker)
            .build();
    HttpProxy proxy =
        resources.track(
            HttpProxy.builder()
                .listen("127.0.0.1", 0)
                .retryPolicy(fastRetries().perTryTimeout(Duration.ofSeconds(2)).build())
                .defaultRoute(cluster)
                .start());
    Endpoint eb = cluster.endpoints().get(1);

    AtomicBoolean running = new AtomicBoolean(true);
    AtomicInteger sent = new AtomicInteger();
    ConcurrentLinkedQueue<String> failures = new ConcurrentLinkedQueue<>();
    List<Thread> clients = new ArrayList<>();
    for (int i = 0; i < 2; i++) {
      clients.add(
          Thread.ofVirtual()
              .start(
                  () -> {
                    while (running.get()) {
                      try {
                        HttpResponse<String> r = get(proxy, "/load");
                        sent.incrementAndGet();
                        if (r.statusCode() != 200) {
                          failures.add(r.statusCode() + " " + r.body());
                        }
                      } catch (Exception e) {
                        failures.add(e.toString());
                      }
                    }
                  }));
    }
    long detectionMillis;
    try {
      Await.until("b serves some of the load", () -> b.requests.get() >= 50);
      long killed = System.nanoTime();
      b.stop();
      Await.until("b ejected", eb::ejected);
      detectionMillis = (System.nanoTime() - killed) / 1_000_000;
      int sentAtEjection = sent.get();
      Await.until("load goes on without b", () -> sent.get() >= sentAtEjection + 200);
      // a request b accepted as it died ends by the per-try timeout and is retried on a
      Await.until("nothing in flight on b", () -> eb.active() == 0);

      b.start();
      int bBefore = b.requests.get();
      ticker.advance(Duration.ofSeconds(31)); // the ejection ends; slow start begins at 10 % weight
      Await.until("b back in the balancer", () -> !eb.ejected() && cluster.available().size() == 2);
      assertThat(eb.weight()).isLessThan(cluster.endpoints().get(0).weight());
      Await.until("b serves again", () -> b.requests.get() >= bBefore + 20);
      ticker.advance(Duration.ofSeconds(11));
      Await.until("b at full weight", () -> eb.weight() == cluster.endpoints().get(0).weight());
    } finally {
      running.set(false); // a failure above must not leave the clients hammering a closed proxy
      for (Thread t : clients) {
        t.join();
      }
    }
    HttpProxyStats s = Idle.await(proxy).stats();
    System.out.printf(
        "kill test: %d requests, %d failed, b ejected %d ms after the kill, retries %s%n",
        sent.get(), failures.size(), detectionMillis, s.retries());
    assertThat(failures).isEmpty();
    assertThat(detectionMillis).isLessThan(5_000);
    assertThat(s.retries().total()).isPositive();
  }

  @Test
  void httpHealthCheckTakesAFailingBackendOutAndBringsItBack() throws Exception {
    Box a = resources.track(new Box("a", 30_000));
    Box b = resources.track(new Box("b", 30_000));
    Cluster cluster =
        resources.track(
            Cluster.builder("web")
                .backends(a.backend(), b.backend())
                .healthCheck(
                    HttpHealthCheck.get("/healthz")
                        .withInterval(Duration.ofMillis(20))
                        .withThresholds(1, 2))
                .build());
    HttpProxy proxy =
        resources.track(HttpProxy.builder().listen("127.0.0.1", 0).defaultRoute(cluster).start());
    Endpoint eb = cluster.endpoints().get(1);
    b.healthStatus = 500;
    // the flag flips just before the balancer's list is rebuilt: wait for both
    Await.until("b unhealthy", () -> !eb.healthy() && cluster.available().size() == 1);
    ClusterStats web = proxy.stats().clusters().get("web");
    assertThat(web.backends().get("b").healthy()).isFalse();
    assertThat(web.backends().get("a").healthy()).isTrue();
    assertThat(web.available()).isEqualTo(1);
    int before = b.requests.get();
    for (int i = 0; i < 20; i++) {
      assertThat(get(proxy, "/x").body()).isEqualTo("a");
    }
    assertThat(b.requests.get()).isEqualTo(before);
    b.healthStatus = 200;
    Await.until("b healthy again", eb::healthy);
    Await.until(
        "b serves again",
        () -> {
          try {
            return get(proxy, "/x").body().equals("b");
          } catch (Exception e) {
            throw new AssertionError(e);
          }
        });
  }

  @Test
  void httpHealthProbeHonoursItsTimeout() throws Exception {
    try (ServerSocket silent = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        Cluster c = Cluster.of("c", Backend.of("127.0.0.1", silent.getLocalPort()))) {
      HealthCheck hc = HttpHealthCheck.get("/healthz", 200, 204);
      long start = System.nanoTime();
      boolean healthy;
      try {
        healthy = hc.probe().check(c.endpoints().get(0), Duration.ofMillis(200));
      } catch (Exception e) {
        healthy = false;
      }
      long millis = (System.nanoTime() - start) / 1_000_000;
      assertThat(healthy).isFalse();
      assertThat(millis).isBetween(150L, 5_000L);
    }
  }
}
