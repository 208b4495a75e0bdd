package dev.meshlet.l7;

import static org.assertj.core.api.Assertions.assertThat;

import dev.meshlet.core.Cluster;
import dev.meshlet.testkit.Await;
import dev.meshlet.testkit.NoLeakedThreads;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

/** What replacing the routes does to the pooled connections of the backends it drops. */
@ExtendWith(NoLeakedThreads.class)
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class ReplaceRoutesTest {

  /** Polls {@code condition} for at most {@code within}; the time it took. */
  static Duration within(Duration within, String what, BooleanSupplier condition)
      throws InterruptedException {
    long start = System.nanoTime();
    while (!condition.getAsBoolean()) {
      if (System.nanoTime() - start > within.toNanos()) {
        throw new AssertionError("not within " + within + ": " + what);
      }
      Thread.sleep(5); // the polling interval
    }
    return Duration.ofNanos(System.nanoTime() - start);
  }

  @Test
  void droppedBackendsIdleConnectionsCloseAtOnceAndBusyOnesAfterTheirExchange() throws Exception {
    try (TestBackend old =
            TestBackend.with(
                "old",
                (request, response, callback) -> {
                  long delay = request.getHttpURI().getPath().equals("/slow") ? 1500 : 0;
                  request
                      .getComponents()
                      .getScheduler()
                      .schedule(
                          () ->
                              response.write(
                                  true,
                                  ByteBuffer.wrap("old".getBytes(StandardCharsets.UTF_8)),
                                  callback),
                          delay,
                          TimeUnit.MILLISECONDS);
                  return true;
                });
        TestBackend next = TestBackend.named("next");
        HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build()) {
      Cluster oldCluster = Cluster.of("old", old.backend());
      Cluster nextCluster = Cluster.of("next", next.backend());
      try (HttpProxy proxy =
          HttpProxy.builder().listen("127.0.0.1", 0).defaultRoute(oldCluster).start()) {
        CompletableFuture<HttpResponse<String>> slow =
            http.sendAsync(
                HttpRequest.newBuilder(proxy.uri().resolve("/slow")).build(),
                HttpResponse.BodyHandlers.ofString());
        Await.until("the slow request reached the backend", () -> old.requests.size() == 1);
        HttpResponse<String> fast =
            http.send(
                HttpRequest.newBuilder(proxy.uri().resolve("/fast")).build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(fast.body()).isEqualTo("old");
        assertThat(old.open.get()).as("one busy, one idle pooled connection").isEqualTo(2);

        proxy.replaceRoutes(t -> t.defaultRoute(nextCluster));
        within(Duration.ofSeconds(1), "the idle connection closed", () -> old.open.get() == 1);
        assertThat(slow.isDone()).as("the busy connection's exchange goes on").isFalse();

        assertThat(slow.get(10, TimeUnit.SECONDS).statusCode()).isEqualTo(200);
        assertThat(slow.get().body()).isEqualTo("old");
        within(
            Duration.ofSeconds(1),
            "the busy connection closed after its exchange",
            () -> old.open.get() == 0);
        HttpResponse<String> now =
            http.send(
                HttpRequest.newBuilder(proxy.uri().resolve("/x")).build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(now.body()).isEqualTo("next");
      }
    }
  }
}
