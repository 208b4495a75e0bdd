package dev.meshlet.l7;

import static org.assertj.core.api.Assertions.assertThat;

import dev.meshlet.core.Balancer;
import dev.meshlet.core.Cluster;
import dev.meshlet.testkit.Await;
import java.io.IOException;
import java.io.InputStream;
import java.net.Socket;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Per-try and request timeouts: 504s, retries on another backend, one answer in every race. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class TimeoutTest extends ResilienceTestSupport {
  @Test
  void perTryTimeoutRetriesOnAnotherBackendAndTheRequestTimeoutIs504() throws Exception {
    Box x = resources.track(new Box("x", 30_000));
    Box y = resources.track(new Box("y", 30_000));
    Cluster cluster =
        Cluster.builder("c")
            .backends(x.backend(), y.backend())
            .balancer(Balancer.consistentHash())
            .build();
    Box slow = firstPick(cluster) == 0 ? x : y;
    Box fast = slow == x ? y : x;
    CountDownLatch hold = new CountDownLatch(1);
    slow.hold = hold;
    HttpProxy proxy =
        resources.track(
            HttpProxy.builder()
                .listen("127.0.0.1", 0)
                .route(
                    r ->
                        r.name("retried")
                            .pathPrefix("/r")
                            .retryPolicy(fastRetries().perTryTimeout(Duration.ofSeconds(1)).build())
                            .to(cluster))
                .route(
                    r ->
                        r.name("bounded")
                            .pathPrefix("/t")
                            .requestTimeout(Duration.ofMillis(300))
                            .to(cluster))
                .start());
    HttpResponse<String> r = get(proxy, "/r");
    assertThat(r.statusCode()).isEqualTo(200);
    assertThat(r.body()).isEqualTo(fast.name);

    long start = System.nanoTime();
    HttpResponse<String> t = get(proxy, "/t");
    long millis = (System.nanoTime() - start) / 1_000_000;
    assertThat(t.statusCode()).isEqualTo(504);
    assertThat(millis).isBetween(250L, 5_000L);
    hold.countDown();
    HttpProxyStats s = Idle.await(proxy).stats();
    assertThat(s.retries().count(HttpProxyStats.RetryReason.PER_TRY_TIMEOUT)).isEqualTo(1);
    assertThat(s.routes().get("bounded").errors(HttpProxyStats.ErrorKind.GATEWAY_TIMEOUT))
        .isEqualTo(1);
  }

  @Test
  void requestTimeoutAnswers504WhileAChunkedBodyHasNotStartedAndNothingGoesUpstream()
      throws Exception {
    Box box = resources.track(new Box("b", 30_000));
    HttpProxy proxy =
        resources.track(
            HttpProxy.builder()
                .listen("127.0.0.1", 0)
                .requestTimeout(Duration.ofMillis(300))
                .defaultRoute(Cluster.of("c", box.backend()))
                .start());
    try (Socket s = new Socket("127.0.0.1", proxy.port())) {
      s.setSoTimeout(10_000);
      s.getOutputStream()
          .write(
              "POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                  .getBytes(
                      StandardCharsets
                          .US_ASCII)); // and no body: the proxy waits for it before dialing
      InputStream in = s.getInputStream();
      StringBuilder head = new StringBuilder();
      for (int c; head.indexOf("\r\n\r\n") < 0 && (c = in.read()) >= 0; ) {
        head.append((char) c);
      }
      assertThat(head.toString()).startsWith("HTTP/1.1 504");
    }
    HttpProxyStats st = Idle.await(proxy).stats();
    assertThat(st.total().errors(HttpProxyStats.ErrorKind.GATEWAY_TIMEOUT)).isEqualTo(1);
    assertThat(box.requests.get()).as("requests that reached the backend").isZero();
  }

  @Test
  void requestTimeoutRacingAPendingOverflowAnswersOnceAndLeavesNoCountBehind() throws Exception {
    Box b = resources.track(new Box("b", 30_000));
    CountDownLatch hold = new CountDownLatch(1);
    b.hold = hold;
    Cluster c = Cluster.builder("c").backends(b.backend()).maxPending(1).build();
    long[] timeoutsNanos = {
      1_000, 20_000, 50_000, 100_000, 200_000
    }; // about when send() refuses with 503
    HttpProxyBuilder builder =
        HttpProxy.builder()
            .listen("127.0.0.1", 0)
            .maxConnectionsPerBackend(1)
            .route(r -> r.name("slow").pathPrefix("/slow").to(c));
    for (long t : timeoutsNanos) {
      builder.route(
          r ->
              r.name("t" + t).pathPrefix("/t" + t + "/").requestTimeout(Duration.ofNanos(t)).to(c));
    }
    HttpProxy proxy = resources.track(builder.start());
    List<CompletableFuture<HttpResponse<String>>> slow = new ArrayList<>();
    slow.add(
        http.sendAsync(
            HttpRequest.newBuilder(proxy.uri().resolve("/slow/0")).build(),
            HttpResponse.BodyHandlers.ofString()));
    Await.until("the backend holds the first request", () -> b.requests.get() == 1);
    slow.add(
        http.sendAsync(
            HttpRequest.newBuilder(proxy.uri().resolve("/slow/1")).build(),
            HttpResponse.BodyHandlers.ofString()));
    Await.until(
        "the second waits for the connection: the pending limit is full",
        () -> c.stats().pending() == 1);

    int perTimeout = 400;
    List<String> bad = new ArrayList<>();
    for (long t : timeoutsNanos) {
      Socket s = null;
      for (int i = 0; i < perTimeout; i++) {
        if (s == null) {
          s = new Socket("127.0.0.1", proxy.port());
          s.setSoTimeout(10_000);
        }
        s.getOutputStream()
            .write(
                ("GET /t" + t + "/" + i + " HTTP/1.1\r\nHost: h\r\n\r\n")
                    .getBytes(StandardCharsets.US_ASCII));
        String answer = oneAnswer(s.getInputStream());
        if (!answer.equals("503") && !answer.equals("504")) {
          bad.add(t + " ns: " + answer);
          s.close();
          s = null;
        }
      }
      if (s != null) {
        s.close();
      }
    }
    hold.countDown();
    for (CompletableFuture<HttpResponse<String>> f : slow) {
      assertThat(f.get(20, TimeUnit.SECONDS).statusCode()).isEqualTo(200);
    }
    HttpProxyStats st = Idle.await(proxy).stats();
    assertThat(bad)
        .as("answers that were not one clean 503 or 504 (on a connection kept alive)")
        .isEmpty();
    for (long t : timeoutsNanos) {
      HttpProxyStats.Counts rc = st.routes().get("t" + t);
      assertThat(
              rc.errors(HttpProxyStats.ErrorKind.PENDING_OVERFLOW)
                  + rc.errors(HttpProxyStats.ErrorKind.GATEWAY_TIMEOUT))
          .as("route t" + t + " errors " + rc.errors())
          .isEqualTo(perTimeout);
    }
    assertThat(st.backends().get("b").inFlight()).as("backend b in flight").isZero();
    assertThat(c.endpoints().get(0).active()).as("endpoint b active").isZero();
    assertThat(c.stats().pending()).isZero();
    assertThat(c.stats().active()).isZero();
  }

  @Test
  void requestTimeoutRacingABadChunkAnswersOnce() throws Exception {
    Box b = resources.track(new Box("b", 30_000));
    Cluster c = Cluster.of("c", b.backend());
    long[] timeoutsNanos = {
      1_000, 20_000, 50_000, 100_000, 200_000
    }; // about when the bad chunk is read
    HttpProxyBuilder builder = HttpProxy.builder().listen("127.0.0.1", 0);
    for (long t : timeoutsNanos) {
      builder.route(
          r ->
              r.name("t" + t).pathPrefix("/t" + t + "/").requestTimeout(Duration.ofNanos(t)).to(c));
    }
    HttpProxy proxy = resources.track(builder.start());
    int perTimeout = 200;
    List<String> bad = new ArrayList<>();
    for (long t : timeoutsNanos) {
      for (int i = 0; i < perTimeout; i++) {
        try (Socket s = new Socket("127.0.0.1", proxy.port())) {
          s.setSoTimeout(10_000);
          s.getOutputStream()
              .write(
                  ("POST /t"
                          + t
                          + "/"
                          + i
                          + " HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
                          + "\r\nzz\r\n")
                      .getBytes(StandardCharsets.US_ASCII)); // a chunk size that is no number
          String answer = oneAnswer(s.getInputStream());
          if (!answer.equals("400") && !answer.equals("504")) {
            bad.add(t + " ns: " + answer);
          }
        }
      }
    }
    HttpProxyStats st = Idle.await(proxy).stats();
    assertThat(bad).as("answers that were not one clean 400 or 504").isEmpty();
    assertThat(
            st.total().errors(HttpProxyStats.ErrorKind.BAD_REQUEST)
                + st.total().errors(HttpProxyStats.ErrorKind.GATEWAY_TIMEOUT))
        .as("errors " + st.total().errors())
        .isEqualTo(perTimeout * timeoutsNanos.length);
    assertThat(st.backends().get("b").inFlight()).as("backend b in flight").isZero();
    assertThat(c.endpoints().get(0).active()).as("endpoint b active").isZero();
    assertThat(b.requests.get()).isZero();
  }

  @Test
  void requestTimeoutAmongImmediateRetriesAlwaysAnswers() throws Exception {
    int attempts = 10;
    CountDownLatch hold = new CountDownLatch(1);
    ConcurrentHashMap<String, Integer> tries = new ConcurrentHashMap<>();
    TestBackend b =
        resources.track(
            TestBackend.with(
                "b",
                (request, response, callback) -> {
                  // 503 (retried at once) to all tries but the last, which is held: only a request
                  // timeout that aborted
                  // nothing (one landing as Jetty builds a try's exchange, say) leaves the client
                  // waiting for it
                  if (tries.merge(request.getHeaders().get("X-Request-ID"), 1, Integer::sum)
                      < attempts) {
                    response.setStatus(503);
                    response.write(true, null, callback);
                  } else {
                    hold.await(20, TimeUnit.SECONDS);
                    response.setStatus(200);
                    response.write(true, null, callback);
                  }
                  return true;
                }));
    Cluster c = Cluster.of("c", b.backend());
    RetryPolicy immediate =
        RetryPolicy.builder().maxAttempts(attempts).backoff(Duration.ZERO, Duration.ZERO).build();
    long[] timeoutsMicros = {
      100, 150, 200, 250, 300, 400, 600, 1_000
    }; // about when tries are handed over
    HttpProxyBuilder builder = HttpProxy.builder().listen("127.0.0.1", 0);
    for (long t : timeoutsMicros) {
      builder.route(
          r ->
              r.name("t" + t)
                  .pathPrefix("/t" + t + "/")
                  .retryPolicy(immediate)
                  .requestTimeout(Duration.ofNanos(t * 1_000))
                  .to(c));
    }
    HttpProxy proxy = resources.track(builder.start());
    List<String> lost = new ArrayList<>();
    for (int i = 0; i < 250 && lost.size() < 3; i++) {
      for (long t : timeoutsMicros) {
        try {
          HttpResponse<String> r =
              http.send(
                  HttpRequest.newBuilder(proxy.uri().resolve("/t" + t + "/" + i))
                      .timeout(Duration.ofSeconds(5))
                      .build(),
                  HttpResponse.BodyHandlers.ofString());
          assertThat(r.statusCode()).as("after a request timeout of " + t + " µs").isIn(503, 504);
        } catch (HttpTimeoutException e) {
          lost.add(t + " µs: no answer in 5 s");
        }
      }
    }
    hold.countDown();
    assertThat(lost).isEmpty();
    Idle.await(proxy);
  }

  /** Reads one response: its status when well-formed (its own head and body), else what came. */
  private static String oneAnswer(InputStream in) throws IOException {
    StringBuilder head = new StringBuilder();
    try {
      for (int ch; head.indexOf("\r\n\r\n") < 0; ) {
        if ((ch = in.read()) < 0) {
          return "EOF after [" + head + "]";
        }
        head.append((char) ch);
      }
      String h = head.toString().toLowerCase(Locale.ROOT);
      String status = h.substring(9, 12);
      int cl = h.indexOf("content-length:");
      if (cl < 0) {
        return "no Content-Length [" + head + "]";
      }
      int length = Integer.parseInt(h.substring(cl + 15, h.indexOf("\r\n", cl)).strip());
      String body = new String(in.readNBytes(length), StandardCharsets.US_ASCII);
      boolean overflow = h.contains("x-meshlet-overflow: cluster c max pending requests");
      boolean clean =
          switch (status) {
            case "504" -> body.equals("504 Gateway Timeout\n") && !overflow;
            case "503" ->
                body.equals("503 Service Unavailable: cluster c max pending requests\n")
                    && overflow;
            case "400" ->
                body.equals("400 Bad Request\n") && !overflow && h.contains("connection: close");
            default -> false;
          };
      return clean ? status : "[" + head + body + "]";
    } catch (IOException e) {
      return e + " after [" + head + "]";
    }
  }
}
