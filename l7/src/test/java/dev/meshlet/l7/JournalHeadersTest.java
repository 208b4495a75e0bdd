package dev.meshlet.l7;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.meshlet.core.Cluster;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** What the journal keeps of headers: nothing unless asked, then bounded and redacted, per try. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class JournalHeadersTest extends ResilienceTestSupport {

  private HttpResponse<String> postWithKey(HttpProxy proxy, String key) throws Exception {
    return http.send(
        HttpRequest.newBuilder(proxy.uri().resolve("/orders?x=1"))
            .header("Idempotency-Key", key)
            .header("Authorization", "Bearer secret-token")
            .header("Cookie", "session=abc")
            .POST(HttpRequest.BodyPublishers.ofString("{}"))
            .timeout(Duration.ofSeconds(20))
            .build(),
        HttpResponse.BodyHandlers.ofString());
  }

  @Test
  void aRetryIsJournaledPerTryWithTheSameIdempotencyKey() throws Exception {
    Box flaky = resources.track(new Box("flaky", 30_000));
    flaky.oddRequestsFail = true; // the first try gets 503, the retry 200
    HttpProxy proxy =
        resources.track(
            HttpProxy.builder()
                .listen("127.0.0.1", 0)
                .journalHeaders(HeaderCapture.defaults())
                .retryPolicy(fastRetries().build())
                .defaultRoute(Cluster.of("c", flaky.backend()))
                .start());

    assertThat(postWithKey(proxy, "k-42").statusCode()).isEqualTo(200);

    HttpEvent.Completed done = proxy.awaitRequests(1, Duration.ofSeconds(10)).get(0);
    List<HttpEvent.Forwarded> tries = proxy.journal().entries(HttpEvent.Forwarded.class);
    assertThat(tries).extracting(HttpEvent.Forwarded::attempt).containsExactly(1, 2);
    assertThat(tries).extracting(HttpEvent.Forwarded::request).containsOnly(done.request());
    assertThat(tries).extracting(t -> t.headers().get("idempotency-key")).containsOnly("k-42");
    assertThat(tries).extracting(HttpEvent.Forwarded::target).containsOnly("/orders?x=1");
    assertThat(tries).extracting(HttpEvent.Forwarded::method).containsOnly("POST");
    // what the proxy adds is in the forwarded head, not in the client's
    assertThat(tries.get(0).headers().get("Via")).isEqualTo("1.1 meshlet");
    assertThat(done.requestHeaders().get("Via")).isNull();
    assertThat(done.requestHeaders().get("Idempotency-Key")).isEqualTo("k-42");
    assertThat(done.responseHeaders().get("X-Backend")).isEqualTo("flaky");
  }

  @Test
  void secretsAreRedactedByDefaultAndTheListCanGrow() throws Exception {
    Box box = resources.track(new Box("b", 30_000));
    HttpProxy proxy =
        resources.track(
            HttpProxy.builder()
                .listen("127.0.0.1", 0)
                .journalHeaders(HeaderCapture.defaults().alsoRedacting("Idempotency-Key"))
                .defaultRoute(Cluster.of("c", box.backend()))
                .start());

    postWithKey(proxy, "k-1");

    HttpEvent.Completed done = proxy.awaitRequests(1, Duration.ofSeconds(10)).get(0);
    HttpEvent.Forwarded sent = proxy.journal().entries(HttpEvent.Forwarded.class).get(0);
    for (RecordedHeaders h : List.of(done.requestHeaders(), sent.headers())) {
      assertThat(h.get("Authorization")).isEqualTo(RecordedHeaders.REDACTED);
      assertThat(h.get("Cookie")).isEqualTo(RecordedHeaders.REDACTED);
      assertThat(h.get("Idempotency-Key")).isEqualTo(RecordedHeaders.REDACTED);
    }
    assertThat(done.toString() + sent).doesNotContain("secret-token", "session=abc", "k-1");
  }

  @Test
  void headersAreKeptUpToTheByteLimitAndMarkedTruncated() throws Exception {
    Box box = resources.track(new Box("b", 30_000));
    HttpProxy proxy =
        resources.track(
            HttpProxy.builder()
                .listen("127.0.0.1", 0)
                .journalHeaders(HeaderCapture.defaults().withMaxBytes(64))
                .defaultRoute(Cluster.of("c", box.backend()))
                .start());

    http.send(
        HttpRequest.newBuilder(proxy.uri().resolve("/"))
            .header("X-Big", "v".repeat(500))
            .header("X-Small", "s")
            .timeout(Duration.ofSeconds(20))
            .build(),
        HttpResponse.BodyHandlers.ofString());

    RecordedHeaders kept = proxy.awaitRequests(1, Duration.ofSeconds(10)).get(0).requestHeaders();
    assertThat(kept.truncated()).isTrue();
    assertThat(kept.get("X-Big")).isNull();
    assertThat(kept.get("X-Small")).isEqualTo("s"); // a smaller header after a big one still fits
    int bytes = kept.fields().stream().mapToInt(f -> f.name().length() + f.value().length()).sum();
    assertThat(bytes).isLessThanOrEqualTo(64);
  }

  @Test
  void nothingIsKeptUnlessAskedFor() throws Exception {
    Box box = resources.track(new Box("b", 30_000));
    HttpProxy proxy =
        resources.track(
            HttpProxy.builder()
                .listen("127.0.0.1", 0)
                .defaultRoute(Cluster.of("c", box.backend()))
                .start());

    postWithKey(proxy, "k-7");

    HttpEvent.Completed done = proxy.awaitRequests(1, Duration.ofSeconds(10)).get(0);
    assertThat(done.requestHeaders().isEmpty()).isTrue();
    assertThat(done.responseHeaders().isEmpty()).isTrue();
    assertThat(proxy.journal().entries(HttpEvent.Forwarded.class)).isEmpty();
  }

  @Test
  void badCaptureSettingsAreRefused() {
    assertThatThrownBy(() -> HeaderCapture.defaults().withMaxBytes(-1))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("maxBytes: -1 (expected: >= 0)");
    assertThatThrownBy(() -> HeaderCapture.defaults().alsoRedacting(" "))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("blank");
    assertThat(HeaderCapture.defaults().redacts("SET-COOKIE")).isTrue();
    assertThat(HeaderCapture.defaults().redacting().redacts("Authorization")).isFalse();
  }
}
