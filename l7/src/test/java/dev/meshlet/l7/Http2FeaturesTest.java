package dev.meshlet.l7;

import static org.assertj.core.api.Assertions.assertThat;

import dev.meshlet.core.Balancer;
import dev.meshlet.core.Cluster;
import dev.meshlet.testkit.Await;
import dev.meshlet.testkit.NoLeakedThreads;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.eclipse.jetty.client.CompletableResponseListener;
import org.eclipse.jetty.client.ContentResponse;
import org.eclipse.jetty.client.HttpClient;
import org.eclipse.jetty.http.HttpVersion;
import org.eclipse.jetty.http2.client.HTTP2Client;
import org.eclipse.jetty.http2.client.transport.HttpClientTransportOverHTTP2;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.util.Callback;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * The L7 features over HTTP/2 on both sides (an h2c client, h2c backends): routing, rewrites,
 * header rules, retries, timeouts, circuit breaking, faults, the journal and the stats, and the cap
 * on streams per upstream connection.
 */
@ExtendWith(NoLeakedThreads.class)
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class Http2FeaturesTest {
  private HttpClient h2;
  private final List<AutoCloseable> closing = new ArrayList<>();

  /** Released by a test to let the held requests ({@code /hold}) of its backends answer. */
  private final CountDownLatch release = new CountDownLatch(1);

  @BeforeEach
  void client() throws Exception {
    h2 = new HttpClient(new HttpClientTransportOverHTTP2(new HTTP2Client()));
    h2.setMaxConnectionsPerDestination(1); // every request of a test on one h2 connection
    h2.start();
  }

  @AfterEach
  void close() throws Exception {
    release.countDown();
    h2.stop();
    for (int i = closing.size() - 1; i >= 0; i--) {
      closing.get(i).close();
    }
  }

  private <T extends AutoCloseable> T closing(T c) {
    closing.add(c);
    return c;
  }

  /** An h2c backend that answers every request 503. */
  private H2Backend failing(String name) throws Exception {
    return closing(
        H2Backend.h2c(
            name,
            (request, response, callback) -> {
              response.setStatus(503);
              response.write(true, null, callback);
              return true;
            }));
  }

  /**
   * An h2c backend: {@code /status/NNN} answers NNN, {@code /slow} after 2 s, {@code /hold} when
   * the test releases it; anything else 200 with its name, path and x-secret header.
   */
  private H2Backend backend(String name) throws Exception {
    return closing(
        H2Backend.h2c(
            name,
            (Request request, org.eclipse.jetty.server.Response response, Callback callback) -> {
              String path = request.getHttpURI().getPath();
              if (path.startsWith("/status/")) {
                response.setStatus(Integer.parseInt(path.substring(8)));
                response.write(true, null, callback);
                return true;
              }
              if (path.equals("/slow")) {
                Thread.sleep(2000); // a backend too slow for the route's deadline, not a wait
              } else if (path.equals("/hold")) {
                release.await();
              }
              response.getHeaders().put("x-backend", name);
              response.getHeaders().put("x-secret", "s");
              response.write(
                  true,
                  ByteBuffer.wrap((name + " " + path).getBytes(StandardCharsets.UTF_8)),
                  callback);
              return true;
            }));
  }

  private HttpProxy start(HttpProxyBuilder b, Cluster... h2cClusters) throws Exception {
    b.listen("127.0.0.1", 0).h2c(true);
    for (Cluster c : h2cClusters) {
      b.upstreamProtocol(c, UpstreamProtocol.H2C);
    }
    return closing(b.start());
  }

  private ContentResponse get(HttpProxy p, String path) throws Exception {
    ContentResponse r = h2.newRequest("127.0.0.1", p.port()).path(path).send();
    assertThat(r.getVersion()).isEqualTo(HttpVersion.HTTP_2);
    return r;
  }

  private CompletableFuture<ContentResponse> getAsync(HttpProxy p, String path) {
    return new CompletableResponseListener(h2.newRequest("127.0.0.1", p.port()).path(path)).send();
  }

  @Test
  void routesRewritesAndHeaderRulesApplyPerStream() throws Exception {
    H2Backend a = backend("a");
    H2Backend v2 = backend("v2");
    H2Backend d = backend("d");
    Cluster ca = closing(Cluster.of("a", a.backend()));
    Cluster cv2 = closing(Cluster.of("v2", v2.backend()));
    Cluster cd = closing(Cluster.of("d", d.backend()));
    HttpProxy p =
        start(
            HttpProxy.builder()
                .route(
                    r ->
                        r.name("api")
                            .pathPrefix("/api/")
                            .rewritePathPrefix("/api/", "/v1/")
                            .addRequestHeader("x-added", "yes")
                            .removeResponseHeader("x-secret")
                            .to(ca))
                .route(r -> r.name("v2").header("x-version", "2").to(cv2))
                .defaultRoute(cd),
            ca,
            cv2,
            cd);
    ContentResponse api = get(p, "/api/items");
    assertThat(api.getContentAsString()).isEqualTo("a /v1/items");
    assertThat(api.getHeaders().get("x-secret")).isNull();
    assertThat(a.last().headers().get("x-added")).isEqualTo("yes");
    ContentResponse byHeader =
        h2.newRequest("127.0.0.1", p.port())
            .path("/x")
            .headers(h -> h.put("x-version", "2"))
            .send();
    assertThat(byHeader.getContentAsString()).isEqualTo("v2 /x");
    assertThat(get(p, "/other").getContentAsString()).isEqualTo("d /other");
    assertThat(get(p, "/other").getHeaders().get("x-secret")).isEqualTo("s");
  }

  @Test
  void retriesOnStatusGoToTheOtherBackend() throws Exception {
    H2Backend bad = failing("bad");
    H2Backend good = backend("good");
    Cluster c =
        closing(
            Cluster.builder("c")
                .backends(bad.backend(), good.backend())
                .balancer(Balancer.roundRobin())
                .build());
    HttpProxy p =
        start(
            HttpProxy.builder()
                .retryPolicy(RetryPolicy.builder().maxAttempts(2).retryOnStatus(503).build())
                .route(r -> r.name("s").pathPrefix("/").to(c)),
            c);
    // first tries that reach the failing backend are each retried on the other
    for (int i = 0; i < 6; i++) {
      ContentResponse r = get(p, "/ok" + i);
      assertThat(r.getStatus()).isEqualTo(200);
      assertThat(r.getContentAsString()).isEqualTo("good /ok" + i);
    }
    assertThat(bad.requests).isNotEmpty();
    assertThat(p.stats().retries().total()).isEqualTo(bad.requests.size());
  }

  @Test
  void responseTimeoutAnswers504() throws Exception {
    H2Backend slow = backend("slow");
    Cluster c = closing(Cluster.of("c", slow.backend()));
    HttpProxy p =
        start(HttpProxy.builder().responseTimeout(Duration.ofMillis(300)).defaultRoute(c), c);
    assertThat(get(p, "/slow").getStatus()).isEqualTo(504);
    // counted as the exchange ends, which may be just after the client has its answer
    Await.until(
        "the 504 counted",
        () -> p.stats().total().errors(HttpProxyStats.ErrorKind.GATEWAY_TIMEOUT) == 1);
    assertThat(get(p, "/fast").getStatus()).as("the connection still serves").isEqualTo(200);
  }

  @Test
  void circuitBreakerRefusesPastMaxActive() throws Exception {
    H2Backend b = backend("b");
    Cluster c = closing(Cluster.builder("c").backends(b.backend()).maxActive(1).build());
    HttpProxy p = start(HttpProxy.builder().defaultRoute(c), c);
    CompletableFuture<ContentResponse> held = getAsync(p, "/hold");
    Await.until("the held request reached the backend", () -> b.requests.size() == 1);
    ContentResponse refused = get(p, "/x");
    assertThat(refused.getStatus()).isEqualTo(503);
    assertThat(refused.getHeaders().get("x-meshlet-overflow")).contains("cluster c");
    release.countDown();
    assertThat(held.get(10, TimeUnit.SECONDS).getStatus()).isEqualTo(200);
  }

  @Test
  void faultsAnswerWithoutTheBackendAndAreJournaled() throws Exception {
    H2Backend b = backend("b");
    Cluster c = closing(Cluster.of("c", b.backend()));
    HttpProxy p =
        start(
            HttpProxy.builder()
                .route(r -> r.name("teapot").pathPrefix("/tea").fault(HttpFault.abort(418)).to(c))
                .defaultRoute(c),
            c);
    assertThat(get(p, "/tea").getStatus()).isEqualTo(418);
    assertThat(b.requests).isEmpty();
    assertThat(p.journal().entries(HttpEvent.FaultApplied.class)).hasSize(1);
  }

  @Test
  void concurrentStreamsAreJournaledAndCountedOnOneConnectionEachSide() throws Exception {
    H2Backend b = backend("b");
    Cluster c = closing(Cluster.of("c", b.backend()));
    HttpProxy p = start(HttpProxy.builder().defaultRoute(c), c);
    List<CompletableFuture<ContentResponse>> all = new ArrayList<>();
    for (int i = 0; i < 20; i++) {
      all.add(getAsync(p, "/hold"));
    }
    Await.until("20 streams at the backend at once", () -> b.requests.size() == 20);
    release.countDown();
    for (CompletableFuture<ContentResponse> f : all) {
      assertThat(f.get(10, TimeUnit.SECONDS).getStatus()).isEqualTo(200);
    }
    assertThat(b.connections.get()).as("multiplexed on one backend connection").isEqualTo(1);
    List<HttpEvent.Completed> done =
        p.journal().awaitCount(HttpEvent.Completed.class, 20, Duration.ofSeconds(10));
    assertThat(done).allMatch(e -> e.status() == 200);
    Await.until(
        "20 requests, 20 2xx counted",
        () -> p.stats().total().requests() == 20 && p.stats().total().status2xx() == 20);
  }

  @Test
  void streamsPerUpstreamConnectionAreCapped() throws Exception {
    H2Backend b = backend("b");
    Cluster c = closing(Cluster.of("c", b.backend()));
    HttpProxy p =
        start(
            HttpProxy.builder()
                .http2(Http2Limits.builder().maxStreamsPerUpstreamConnection(2).build())
                .defaultRoute(c),
            c);
    List<CompletableFuture<ContentResponse>> all = new ArrayList<>();
    for (int i = 0; i < 6; i++) {
      all.add(getAsync(p, "/hold"));
    }
    Await.until("6 requests at the backend at once", () -> b.requests.size() == 6);
    // 6 at once, 2 per connection: at least 3 connections
    assertThat(b.connections.get()).isGreaterThanOrEqualTo(3);
    release.countDown();
    for (CompletableFuture<ContentResponse> f : all) {
      assertThat(f.get(10, TimeUnit.SECONDS).getStatus()).isEqualTo(200);
    }
  }
}
