package dev.meshlet.micrometer;

import static org.assertj.core.api.Assertions.assertThat;

import dev.meshlet.core.Cluster;
import dev.meshlet.junit.HttpTestBackend;
import dev.meshlet.l7.HttpProxy;
import dev.meshlet.testkit.Await;
import io.micrometer.core.instrument.FunctionTimer;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** {@link HttpProxyMetrics} in a real registry, against traffic sent through a real proxy. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class HttpProxyMetricsTest {
  private final HttpClient http = HttpClient.newHttpClient();

  /** What a scrape does: reads every meter's value. */
  static String scrape(SimpleMeterRegistry registry) {
    return registry.getMetersAsString();
  }

  static double counter(MeterRegistry r, String name, String... tags) {
    return r.get(name).tags(tags).functionCounter().count();
  }

  private void get(HttpProxy proxy, String path, int times) throws Exception {
    for (int i = 0; i < times; i++) {
      HttpResponse<String> r =
          http.send(
              HttpRequest.newBuilder(proxy.uri().resolve(path)).build(),
              HttpResponse.BodyHandlers.ofString());
      assertThat(r.statusCode()).isEqualTo(200);
    }
    proxy.awaitIdle(Duration.ofSeconds(10));
  }

  @Test
  void countsAndHistogramsMatchTheTrafficSent() throws Exception {
    SimpleMeterRegistry registry = new SimpleMeterRegistry();
    try (HttpTestBackend b1 = HttpTestBackend.start("b1");
        HttpProxy proxy =
            HttpProxy.builder()
                .listen("127.0.0.1", 0)
                .route(r -> r.name("api").pathPrefix("/").to(Cluster.of("api", b1.backend())))
                .start()) {
      new HttpProxyMetrics("web", proxy).bindTo(registry);
      assertThat(counter(registry, "meshlet.downstream.rq.total", "listener", "web")).isZero();
      get(proxy, "/x", 5);
      // a snapshot serves reads for 100 ms: poll until one taken after the traffic
      Await.until(
          "the five requests in the registry",
          () -> counter(registry, "meshlet.downstream.rq.total", "listener", "web") == 5);
      assertThat(counter(registry, "meshlet.route.rq.total", "listener", "web", "route", "api"))
          .isEqualTo(5);
      String[] b = {"listener", "web", "cluster", "api", "backend", "b1"};
      assertThat(counter(registry, "meshlet.upstream.rq.total", b)).isEqualTo(5);
      assertThat(
              counter(
                  registry,
                  "meshlet.downstream.rq.xx.total",
                  "listener",
                  "web",
                  "response_code_class",
                  "2"))
          .isEqualTo(5);
      assertThat(
              counter(
                  registry,
                  "meshlet.downstream.rq.code.total",
                  "listener",
                  "web",
                  "response_code",
                  "200"))
          .isEqualTo(5);
      assertThat(counter(registry, "meshlet.downstream.cx.total", "listener", "web")).isEqualTo(1);
      assertThat(
              registry.get("meshlet.downstream.rq.active").tag("listener", "web").gauge().value())
          .isZero();

      FunctionTimer upstream = registry.get("meshlet.upstream.rq.time").tags(b).functionTimer();
      assertThat(upstream.count()).isEqualTo(5);
      assertThat(upstream.totalTime(TimeUnit.NANOSECONDS)).isPositive();
      // cumulative buckets in the registry's unit (seconds here): all five under an hour
      assertThat(
              registry
                  .get("meshlet.upstream.rq.time.buckets")
                  .tags(b)
                  .tag("le", "+Inf")
                  .gauge()
                  .value())
          .isEqualTo(5);
      assertThat(
              registry
                  .get("meshlet.upstream.rq.time.buckets")
                  .tags(b)
                  .tag("le", "3600")
                  .gauge()
                  .value())
          .isEqualTo(5);
      assertThat(
              registry
                  .get("meshlet.upstream.rq.time.buckets")
                  .tags(b)
                  .tag("le", "0.0005")
                  .gauge()
                  .value())
          .isBetween(0.0, 5.0);
    }
  }

  @Test
  void aBackendAddedLaterIsScrapedAndOneRemovedGoes() throws Exception {
    SimpleMeterRegistry registry = new SimpleMeterRegistry();
    try (HttpTestBackend b1 = HttpTestBackend.start("b1");
        HttpTestBackend b2 = HttpTestBackend.start("b2");
        Cluster cluster = Cluster.of("api", b1.backend());
        HttpProxy proxy =
            HttpProxy.builder()
                .listen("127.0.0.1", 0)
                .route(r -> r.name("api").pathPrefix("/").to(cluster))
                .start()) {
      new HttpProxyMetrics("web", proxy).bindTo(registry);
      String[] second = {"listener", "web", "cluster", "api", "backend", "b2"};
      assertThat(registry.find("meshlet.endpoint.healthy").tags(second).gauge()).isNull();
      cluster.add(b2.backend());
      Await.until(
          "b2 registered by a scrape",
          () -> {
            scrape(registry);
            return registry.find("meshlet.endpoint.healthy").tags(second).gauge() != null;
          });
      assertThat(registry.get("meshlet.endpoint.healthy").tags(second).gauge().value())
          .isEqualTo(1);
      // a status code seen for the first time gets its series too
      get(proxy, "/y", 4);
      Await.until(
          "the 200s registered by a scrape",
          () -> {
            scrape(registry);
            return registry
                    .find("meshlet.downstream.rq.code.total")
                    .tags("listener", "web", "response_code", "200")
                    .functionCounter()
                != null;
          });

      cluster.remove(b2.backend());
      Await.until(
          "b2's endpoint series removed by a scrape",
          () -> {
            scrape(registry);
            return registry.find("meshlet.endpoint.healthy").tags(second).gauge() == null;
          });
      assertThat(registry.find("meshlet.endpoint.healthy").tag("backend", "b1").gauge())
          .isNotNull();
    }
  }
}
