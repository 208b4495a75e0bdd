package dev.meshlet.l7;

import static org.assertj.core.api.Assertions.assertThat;

import dev.meshlet.core.Cluster;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** W3C trace context and request ids: passed on, started when asked, the same on every try. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class TraceContextTest extends ResilienceTestSupport {
  static final String VALID = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

  @Test
  void onlyWellFormedTraceparentsAreValid() {
    assertThat(TraceContext.traceId(VALID)).isEqualTo("4bf92f3577b34da6a3ce929d0e0e4736");
    // a later version may add fields after a dash
    assertThat(TraceContext.traceId("01" + VALID.substring(2) + "-extra")).isNotNull();
    for (String bad :
        List.of(
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra", // 00 has no more
            // fields
            "ff" + VALID.substring(2), // version ff is forbidden
            VALID.toUpperCase(Locale.ROOT), // ids are lower-case hex
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g")) {
      assertThat(TraceContext.traceId(bad)).as(bad).isNull();
    }
    String made = TraceContext.newTraceparent();
    assertThat(TraceContext.traceId(made)).isNotNull();
    assertThat(made).endsWith("-01").hasSize(55);
  }

  private HttpResponse<String> send(HttpProxy proxy, String... headers) throws Exception {
    HttpRequest.Builder r =
        HttpRequest.newBuilder(proxy.uri().resolve("/t")).timeout(Duration.ofSeconds(20));
    if (headers.length > 0) {
      r.headers(headers);
    }
    return http.send(r.build(), HttpResponse.BodyHandlers.ofString());
  }

  @Test
  void aValidTraceparentPassesUnchangedAndIsJournaled() throws Exception {
    try (TestBackend b = TestBackend.named("b");
        HttpProxy proxy =
            HttpProxy.builder()
                .listen("127.0.0.1", 0)
                .generateTraceparent(true)
                .defaultRoute(Cluster.of("c", b.backend()))
                .start()) {
      send(proxy, "traceparent", VALID, "tracestate", "vendor=1", "X-Request-ID", "req-1");

      assertThat(b.last().header("traceparent")).isEqualTo(VALID);
      assertThat(b.last().header("tracestate")).isEqualTo("vendor=1");
      HttpEvent.Completed done = proxy.awaitRequests(1, Duration.ofSeconds(10)).get(0);
      assertThat(done.traceId()).isEqualTo("4bf92f3577b34da6a3ce929d0e0e4736");
      assertThat(done.requestId()).isEqualTo("req-1");
    }
  }

  @Test
  void withoutGenerationTraceHeadersPassUntouchedEvenWhenMalformed() throws Exception {
    try (TestBackend b = TestBackend.named("b");
        HttpProxy proxy =
            HttpProxy.builder()
                .listen("127.0.0.1", 0)
                .defaultRoute(Cluster.of("c", b.backend()))
                .start()) {
      send(proxy, "traceparent", "garbage", "tracestate", "vendor=1");
      send(proxy);

      assertThat(b.requests.get(0).header("traceparent")).isEqualTo("garbage");
      assertThat(b.requests.get(0).header("tracestate")).isEqualTo("vendor=1");
      assertThat(b.requests.get(1).header("traceparent")).isNull();
      List<HttpEvent.Completed> done = proxy.awaitRequests(2, Duration.ofSeconds(10));
      assertThat(done).extracting(HttpEvent.Completed::traceId).containsOnlyNulls();
      // the id the proxy made is the one the backend saw
      assertThat(done.get(1).requestId())
          .hasSize(32)
          .isEqualTo(b.requests.get(1).header("X-Request-ID"));
    }
  }

  @Test
  void aMalformedOrMissingTraceparentIsReplacedWhenGenerating() throws Exception {
    try (TestBackend b = TestBackend.named("b");
        HttpProxy proxy =
            HttpProxy.builder()
                .listen("127.0.0.1", 0)
                .generateTraceparent(true)
                .defaultRoute(Cluster.of("c", b.backend()))
                .start()) {
      send(proxy, "traceparent", "garbage", "tracestate", "vendor=1");
      send(proxy, "traceparent", VALID, "traceparent", VALID); // two are not one trace

      for (TestBackend.Seen seen : b.requests) {
        assertThat(TraceContext.traceId(seen.header("traceparent"))).isNotNull();
        assertThat(seen.headers().getValuesList("traceparent")).hasSize(1);
        assertThat(seen.header("tracestate")).isNull();
      }
      assertThat(b.requests.get(1).header("traceparent")).isNotEqualTo(VALID);
      List<HttpEvent.Completed> done = proxy.awaitRequests(2, Duration.ofSeconds(10));
      assertThat(done.get(0).traceId())
          .isEqualTo(b.requests.get(0).header("traceparent").substring(3, 35));
    }
  }

  @Test
  void everyTrySendsTheSameMadeTraceparentAndRequestId() throws Exception {
    Box flaky = resources.track(new Box("flaky", 30_000));
    flaky.oddRequestsFail = true;
    HttpProxy proxy =
        resources.track(
            HttpProxy.builder()
                .listen("127.0.0.1", 0)
                .generateTraceparent(true)
                .journalHeaders(HeaderCapture.defaults())
                .retryPolicy(fastRetries().build())
                .defaultRoute(Cluster.of("c", flaky.backend()))
                .start());

    assertThat(send(proxy).statusCode()).isEqualTo(200);

    HttpEvent.Completed done = proxy.awaitRequests(1, Duration.ofSeconds(10)).get(0);
    List<HttpEvent.Forwarded> tries = proxy.journal().entries(HttpEvent.Forwarded.class);
    assertThat(tries).hasSize(2);
    assertThat(tries).extracting(t -> t.headers().get("traceparent")).doesNotContainNull();
    assertThat(tries.get(1).headers().get("traceparent"))
        .isEqualTo(tries.get(0).headers().get("traceparent"))
        .contains(done.traceId());
    assertThat(tries)
        .extracting(t -> t.headers().get("X-Request-ID"))
        .containsOnly(done.requestId());
  }
}
