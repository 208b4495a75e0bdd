package dev.meshlet.l7;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.meshlet.core.Backend;
import dev.meshlet.core.Cluster;
import dev.meshlet.testkit.Await;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.eclipse.jetty.http.HttpFields;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.Callback;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * gRPC's rules at the proxy, over HTTP/1.1 with gRPC-shaped requests (a POST of {@code
 * application/grpc} with {@code te: trailers}): grpc-timeout as the deadline, the proxy's own
 * errors as gRPC statuses in Trailers-Only answers, retries on a gRPC status, gRPC aborts.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class GrpcSemanticsTest extends ResilienceTestSupport {
  /** A length-prefixed gRPC message of "hi", uncompressed. */
  static final byte[] MESSAGE = {0, 0, 0, 0, 2, 'h', 'i'};

  /** A backend that reads the call and never answers (its callback is failed when it stops). */
  TestBackend silent() throws Exception {
    return resources.track(TestBackend.with("silent", (request, response, callback) -> true));
  }

  HttpResponse<String> call(HttpProxy proxy, String path, String... headers) throws Exception {
    HttpRequest.Builder b =
        HttpRequest.newBuilder(proxy.uri().resolve(path))
            .POST(HttpRequest.BodyPublishers.ofByteArray(MESSAGE))
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .timeout(Duration.ofSeconds(20));
    for (int i = 0; i < headers.length; i += 2) {
      b.header(headers[i], headers[i + 1]);
    }
    return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
  }

  static void assertGrpcStatus(HttpResponse<String> r, int code) {
    assertThat(r.statusCode()).isEqualTo(200);
    assertThat(r.headers().firstValue("content-type")).hasValue("application/grpc");
    assertThat(r.headers().firstValue("grpc-status")).hasValue(Integer.toString(code));
    assertThat(r.headers().firstValue("grpc-message")).isPresent();
    assertThat(r.body()).isEmpty(); // Trailers-Only: the status is the whole answer
  }

  @Test
  void grpcTimeoutShortensTheRouteTimeoutAndAnswersDeadlineExceeded() throws Exception {
    TestBackend backend = silent();
    HttpProxy proxy =
        resources.track(
            HttpProxy.builder()
                .listen("127.0.0.1", 0)
                .route(r -> r.requestTimeout(Duration.ofSeconds(20)).to(cluster(backend)))
                .start());

    long start = System.nanoTime();
    HttpResponse<String> r = call(proxy, "/svc/Get", "grpc-timeout", "300m");
    long millis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);

    assertGrpcStatus(r, 4);
    assertThat(r.headers().firstValue("grpc-message").orElseThrow()).contains("504");
    assertThat(millis).isBetween(290L, 10_000L); // the call's deadline, not the route's 20 s
    HttpProxyStats s = Idle.await(proxy).stats();
    assertThat(s.total().errors(HttpProxyStats.ErrorKind.GATEWAY_TIMEOUT)).isEqualTo(1);
    assertThat(s.total().status2xx()).isEqualTo(1); // what the client got: a gRPC status
  }

  @Test
  void theRoutesOffsetIsTakenOffTheGrpcTimeout() throws Exception {
    TestBackend backend = silent();
    HttpProxy proxy =
        resources.track(
            HttpProxy.builder()
                .listen("127.0.0.1", 0)
                .route(r -> r.grpcTimeoutOffset(Duration.ofMillis(700)).to(cluster(backend)))
                .start());

    long start = System.nanoTime();
    assertGrpcStatus(call(proxy, "/svc/Get", "grpc-timeout", "1S"), 4);
    long millis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
    assertThat(millis).isBetween(290L, 950L); // 1 s less 700 ms

    start = System.nanoTime();
    assertGrpcStatus(call(proxy, "/svc/Get", "grpc-timeout", "500m"), 4); // at least 1 ms
    assertThat(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start)).isLessThan(490L);
    assertThatThrownBy(() -> new HttpRouteBuilder().grpcTimeoutOffset(Duration.ofMillis(-1)))
        .hasMessageContaining("grpcTimeoutOffset");
  }

  @Test
  void aMalformedGrpcTimeoutIsIgnoredAndTheRouteTimeoutApplies() throws Exception {
    TestBackend backend = silent();
    HttpProxy proxy =
        resources.track(
            HttpProxy.builder()
                .listen("127.0.0.1", 0)
                .route(r -> r.requestTimeout(Duration.ofMillis(600)).to(cluster(backend)))
                .start());

    for (String malformed : new String[] {"1x", "123456789m", "0m", "-5S"}) {
      long start = System.nanoTime();
      HttpResponse<String> r = call(proxy, "/svc/Get", "grpc-timeout", malformed);
      long millis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
      assertGrpcStatus(r, 4);
      assertThat(millis).as(malformed).isGreaterThanOrEqualTo(590L);
    }
    // a longer grpc-timeout than the route's leaves the route's
    long start = System.nanoTime();
    assertGrpcStatus(call(proxy, "/svc/Get", "grpc-timeout", "1H"), 4);
    assertThat(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start)).isBetween(590L, 10_000L);
  }

  @Test
  void aPlainRequestStillGetsTheProxysHttpStatuses() throws Exception {
    TestBackend backend = silent();
    HttpProxy proxy =
        resources.track(
            HttpProxy.builder()
                .listen("127.0.0.1", 0)
                .route(r -> r.requestTimeout(Duration.ofMillis(300)).to(cluster(backend)))
                .start());
    HttpResponse<String> r =
        http.send(
            HttpRequest.newBuilder(proxy.uri().resolve("/p"))
                .POST(HttpRequest.BodyPublishers.ofByteArray(MESSAGE))
                .header("content-type", "application/grpc-web")
                .header("grpc-timeout", "50m") // not a gRPC call: no gRPC deadline either
                .build(),
            HttpResponse.BodyHandlers.ofString());
    assertThat(r.statusCode()).isEqualTo(504);
    assertThat(r.headers().firstValue("grpc-status")).isEmpty();
  }

  @Test
  void theProxysOwnErrorsAreGrpcStatuses() throws Exception {
    Cluster dead =
        Cluster.of("dead", Backend.of("127.0.0.1", ErrorsTest.freePortNobodyListensOn()));
    HttpProxy proxy =
        resources.track(
            HttpProxy.builder()
                .listen("127.0.0.1", 0)
                .route(r -> r.pathPrefix("/svc/").to(dead))
                .start());

    HttpResponse<String> refused = call(proxy, "/svc/Get"); // connect refused: 502
    assertGrpcStatus(refused, 14);
    assertThat(refused.headers().firstValue("grpc-message").orElseThrow()).contains("502");
    assertGrpcStatus(call(proxy, "/other/Get"), 12); // no route: 404 is UNIMPLEMENTED
    HttpResponse<String> plain = post(proxy, 10);
    assertThat(plain.statusCode()).isEqualTo(404); // not a gRPC call: as before

    HttpProxyStats s = Idle.await(proxy).stats();
    assertThat(s.total().errors(HttpProxyStats.ErrorKind.NO_ROUTE)).isEqualTo(2);
    assertThat(s.total().errors(HttpProxyStats.ErrorKind.BAD_GATEWAY)).isEqualTo(1);
  }

  @Test
  void theCircuitBreakersRefusalSaysWhyInGrpcMessage() throws Exception {
    TestBackend backend = silent();
    Cluster one = Cluster.builder("one").backends(backend.backend()).maxActive(1).build();
    HttpProxy proxy =
        resources.track(
            HttpProxy.builder()
                .listen("127.0.0.1", 0)
                .route(r -> r.requestTimeout(Duration.ofSeconds(1)).to(one))
                .start());
    var first = http.sendAsync(grpcRequest(proxy), HttpResponse.BodyHandlers.ofString());
    Await.until("the first call is in flight", () -> backend.requests.size() == 1);

    HttpResponse<String> refused = call(proxy, "/svc/Get");
    assertGrpcStatus(refused, 14);
    assertThat(refused.headers().firstValue("grpc-message").orElseThrow())
        .isEqualTo("meshlet: 503: cluster one max requests");
    assertThat(refused.headers().firstValue(LocalAnswer.OVERFLOW_HEADER))
        .hasValue("cluster one max requests");
    assertGrpcStatus(first.get(20, TimeUnit.SECONDS), 4); // the route's deadline ends it
  }

  HttpRequest grpcRequest(HttpProxy proxy) {
    return HttpRequest.newBuilder(proxy.uri().resolve("/svc/Get"))
        .POST(HttpRequest.BodyPublishers.ofByteArray(MESSAGE))
        .header("content-type", "application/grpc+proto")
        .timeout(Duration.ofSeconds(20))
        .build();
  }

  @Test
  void aTrailersOnlyUnavailableIsRetriedAndCounted() throws Exception {
    AtomicInteger calls = new AtomicInteger();
    TestBackend backend =
        resources.track(
            TestBackend.with(
                "flaky",
                (request, response, callback) -> {
                  int n = calls.incrementAndGet();
                  grpcAnswer(response, callback, n == 1 ? 14 : 0, n == 1 ? null : "reply");
                  return true;
                }));
    HttpProxy proxy =
        resources.track(
            HttpProxy.builder()
                .listen("127.0.0.1", 0)
                .retryPolicy(fastRetries().retryOnGrpcStatus(14).build())
                .journalHeaders(HeaderCapture.defaults())
                .defaultRoute(cluster(backend))
                .start());

    HttpResponse<String> r = call(proxy, "/svc/Get");

    assertThat(r.statusCode()).isEqualTo(200);
    assertThat(r.body()).isEqualTo("reply");
    assertThat(calls.get()).isEqualTo(2);
    HttpProxyStats s = Idle.await(proxy).stats();
    assertThat(s.retries().count(HttpProxyStats.RetryReason.GRPC_STATUS)).isEqualTo(1);
    assertThat(s.retries().total()).isEqualTo(1);
    // each try is journaled as it goes to the backend
    assertThat(proxy.journal().entries(HttpEvent.Forwarded.class))
        .extracting(HttpEvent.Forwarded::attempt)
        .containsExactly(1, 2);
  }

  @Test
  void aGrpcStatusThePolicyDoesNotListIsForwarded() throws Exception {
    AtomicInteger calls = new AtomicInteger();
    TestBackend backend =
        resources.track(
            TestBackend.with(
                "notfound",
                (request, response, callback) -> {
                  calls.incrementAndGet();
                  grpcAnswer(response, callback, 5, null);
                  return true;
                }));
    HttpProxy proxy =
        resources.track(
            HttpProxy.builder()
                .listen("127.0.0.1", 0)
                .retryPolicy(fastRetries().retryOnGrpcStatus(14, 13).build())
                .defaultRoute(cluster(backend))
                .start());

    HttpResponse<String> r = call(proxy, "/svc/Get");

    assertThat(r.headers().firstValue("grpc-status")).hasValue("5");
    assertThat(r.headers().firstValue("grpc-message")).hasValue("no such thing");
    assertThat(calls.get()).isEqualTo(1);
    assertThat(Idle.await(proxy).stats().retries().total()).isZero();
  }

  /** Answers a call Trailers-Only with {@code code}, or with {@code body} (code 0). */
  static void grpcAnswer(Response response, Callback callback, int code, String body) {
    HttpFields.Mutable h = response.getHeaders();
    h.put("content-type", "application/grpc");
    if (body == null) {
      h.put("grpc-status", Integer.toString(code));
      h.put("grpc-message", code == 5 ? "no such thing" : "try again");
      h.put("content-length", 0);
      response.write(true, null, callback);
      return;
    }
    byte[] bytes = body.getBytes(StandardCharsets.US_ASCII);
    h.put("content-length", bytes.length);
    response.write(true, ByteBuffer.wrap(bytes), callback);
  }

  @Test
  void aGrpcAbortFaultAnswersTrailersOnlyAndAnHttpAbortBecomesAGrpcStatus() throws Exception {
    TestBackend backend = resources.track(TestBackend.named("b"));
    HttpProxy proxy =
        resources.track(
            HttpProxy.builder()
                .listen("127.0.0.1", 0)
                .route(
                    r ->
                        r.pathPrefix("/g/")
                            .to(cluster(backend))
                            .fault(HttpFault.grpcAbort(8).whenHeader("x-fault")))
                .route(r -> r.pathPrefix("/h/").to(cluster(backend)).fault(HttpFault.abort(503)))
                .start());

    HttpResponse<String> aborted = call(proxy, "/g/Get", "x-fault", "1");
    assertGrpcStatus(aborted, 8);
    assertThat(aborted.headers().firstValue("grpc-message")).hasValue("fault injected");
    assertThat(call(proxy, "/g/Get").body()).isEqualTo("b"); // no header: forwarded
    HttpResponse<String> http503 = call(proxy, "/h/Get");
    assertGrpcStatus(http503, 14);
    assertThat(http503.headers().firstValue("grpc-message")).hasValue("fault injected: 503");
    assertThat(backend.requests).hasSize(1);
    assertThat(Idle.await(proxy).stats().total().status2xx()).isEqualTo(3);
  }

  @Test
  void badGrpcSettingsSayWhatToFix() {
    assertThatThrownBy(() -> HttpFault.grpcAbort(0))
        .hasMessage("grpcAbort code: 0 (expected: 1-16)");
    assertThatThrownBy(() -> RetryPolicy.builder().retryOnGrpcStatus(17).build())
        .hasMessage("retryOnGrpc status: 17 (expected: 1-16)");
  }

  @Test
  void grpcTimeoutParsesTheWireFormat() {
    assertThat(Grpc.timeoutNanos("300m")).isEqualTo(300_000_000L);
    assertThat(Grpc.timeoutNanos("2S")).isEqualTo(2_000_000_000L);
    assertThat(Grpc.timeoutNanos("1H")).isEqualTo(3_600_000_000_000L);
    assertThat(Grpc.timeoutNanos("3M")).isEqualTo(180_000_000_000L);
    assertThat(Grpc.timeoutNanos("7u")).isEqualTo(7_000L);
    assertThat(Grpc.timeoutNanos("99999999n")).isEqualTo(99_999_999L);
    assertThat(Grpc.timeoutNanos("99999999H")).isEqualTo(Long.MAX_VALUE); // 11 415 years
    for (String bad : new String[] {"", "m", "5", "5s", "5 m", "123456789S", "0S", "+5S", "5mm"}) {
      assertThat(Grpc.timeoutNanos(bad)).as(bad).isEqualTo(-1);
    }
    assertThat(Grpc.encodeMessage("50% off\n, ü")).isEqualTo("50%25 off%0A, %C3%BC");
  }

  static Cluster cluster(TestBackend b) {
    return Cluster.of("c", b.backend());
  }
}
