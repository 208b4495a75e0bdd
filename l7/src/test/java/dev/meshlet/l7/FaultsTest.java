package dev.meshlet.l7;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.meshlet.core.Cluster;
import dev.meshlet.core.Schedule;
import dev.meshlet.testkit.NoLeakedThreads;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.Socket;
import java.net.SocketException;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.eclipse.jetty.http.HttpHeader;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

/** L7 faults measured end to end: statuses counted, delays timed, bodies cut and paced. */
@ExtendWith(NoLeakedThreads.class)
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class FaultsTest {
  static final int BIG = 192 * 1024;
  static TestBackend small;
  static TestBackend big;
  static final AtomicLong lastArrivalNanos = new AtomicLong();
  static final HttpClient http =
      HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();

  @BeforeAll
  static void backends() throws Exception {
    small =
        TestBackend.with(
            "small",
            (request, response, callback) -> {
              lastArrivalNanos.set(System.nanoTime());
              response.getHeaders().put(HttpHeader.CONTENT_TYPE, "text/plain");
              response.write(
                  true, ByteBuffer.wrap("ok".getBytes(StandardCharsets.US_ASCII)), callback);
              return true;
            });
    byte[] body = new byte[BIG];
    Arrays.fill(body, (byte) 'b');
    big =
        TestBackend.with(
            "big",
            (request, response, callback) -> {
              response.getHeaders().put(HttpHeader.CONTENT_TYPE, "application/octet-stream");
              response.getHeaders().put(HttpHeader.CONTENT_LENGTH, BIG);
              response.write(true, ByteBuffer.wrap(body), callback);
              return true;
            });
  }

  @AfterAll
  static void stop() throws Exception {
    small.close();
    big.close();
    http.close();
  }

  static HttpProxy proxy(TestBackend backend, long seed, HttpFault... faults) throws IOException {
    return HttpProxy.builder()
        .listen("127.0.0.1", 0)
        .seed(seed)
        .route(
            r -> {
              r.name("faulty").to(Cluster.of(backend.name, backend.backend()));
              for (HttpFault f : faults) {
                r.fault(f);
              }
            })
        .start();
  }

  static HttpResponse<byte[]> get(HttpProxy proxy, String... headers) throws Exception {
    HttpRequest.Builder b = HttpRequest.newBuilder(proxy.uri().resolve("/x"));
    if (headers.length > 0) {
      b.headers(headers);
    }
    return http.send(b.build(), HttpResponse.BodyHandlers.ofByteArray());
  }

  /** The numbers (1-based) of the requests among {@code n} that got {@code status}. */
  static List<Integer> requestsAnswered(int status, HttpProxy proxy, int n) throws Exception {
    List<Integer> hits = new ArrayList<>();
    for (int i = 1; i <= n; i++) {
      if (get(proxy).statusCode() == status) {
        hits.add(i);
      }
    }
    return hits;
  }

  @Test
  void abortToxicityOverAThousandRequestsIsWithinToleranceAndReplaysWithTheSameSeed()
      throws Exception {
    HttpFault thirtyPercent = HttpFault.abort(503).toxicity(0.3);
    List<Integer> first;
    int before = small.requests.size();
    try (HttpProxy proxy = proxy(small, 42, thirtyPercent)) {
      first = requestsAnswered(503, proxy, 1000);
      assertThat(proxy.stats().total().requests()).isEqualTo(1000);
    }
    // Binomial(1000, 0.3): mean 300, sigma 14.5; 235-365 is four and a half sigmas.
    System.out.println("abort 30% of 1000 with seed 42: " + first.size() + " aborted");
    assertThat(first.size()).as("aborted of 1000").isBetween(235, 365);
    assertThat(small.requests.size() - before)
        .as("requests that reached the backend")
        .isEqualTo(1000 - first.size());
    try (HttpProxy again = proxy(small, 42, thirtyPercent)) {
      assertThat(requestsAnswered(503, again, 1000))
          .as("the same seed aborts the same requests")
          .isEqualTo(first);
    }
    try (HttpProxy other = proxy(small, 43, thirtyPercent)) {
      assertThat(requestsAnswered(503, other, 200))
          .isNotEqualTo(first.stream().filter(i -> i <= 200).toList());
    }
  }

  @Test
  void headerTriggeredFaultsApplyOnlyWithTheHeader() throws Exception {
    try (HttpProxy proxy = proxy(small, 1, HttpFault.abort(418).whenHeader("x-chaos"))) {
      for (int i = 0; i < 20; i++) {
        assertThat(get(proxy).statusCode()).isEqualTo(200);
        HttpResponse<byte[]> faulted = get(proxy, "x-chaos", "1");
        assertThat(faulted.statusCode()).isEqualTo(418);
        assertThat(new String(faulted.body(), StandardCharsets.US_ASCII))
            .isEqualTo("fault injected: 418\n");
      }
      // an exchange is recorded once its last write completed, which may be just after the client
      // saw it
      List<HttpEvent.Completed> done = proxy.awaitRequests(40, Duration.ofSeconds(5));
      proxy.awaitIdle(Duration.ofSeconds(5));
      assertThat(done).hasSize(40);
      assertThat(done)
          .filteredOn(c -> c.status() == 418)
          .allSatisfy(
              c -> {
                assertThat(c.faults()).containsExactly("Abort");
                assertThat(c.backend()).isNull();
              });
      assertThat(done)
          .filteredOn(c -> c.status() == 200)
          .allSatisfy(
              c -> {
                assertThat(c.faults()).isEmpty();
                assertThat(c.route()).isEqualTo("faulty");
                assertThat(c.backend()).isNotNull();
              });
    }
  }

  @Test
  void aJournaledExchangeIsAlreadyCountedAndAnIdleProxyHasJournaledEveryExchange()
      throws Exception {
    // the order finish() keeps: status counted, then journaled, then out of flight; reading right
    // after each signal catches a reordering (the client has its answer before any of the three)
    try (HttpProxy proxy = proxy(small, 1, HttpFault.abort(503).schedule(Schedule.everyNth(2)))) {
      for (int i = 1; i <= 200; i++) {
        get(proxy);
        proxy.awaitRequests(i, Duration.ofSeconds(5));
        HttpProxyStats.Counts t = proxy.stats().total();
        assertThat(t.status2xx() + t.status5xx())
            .as("counted once journaled, request " + i)
            .isEqualTo(i);
        proxy.awaitIdle(Duration.ofSeconds(5));
        assertThat(proxy.journal().entries(HttpEvent.Completed.class))
            .as("journaled once idle")
            .hasSize(i);
      }
      assertThat(proxy.stats().total().status5xx()).isEqualTo(100);
    }
  }

  @Test
  void schedulesAbortTheFirstNAndEveryKthRequest() throws Exception {
    try (HttpProxy proxy = proxy(small, 1, HttpFault.abort(503).schedule(Schedule.firstN(3)))) {
      assertThat(requestsAnswered(503, proxy, 10)).containsExactly(1, 2, 3);
    }
    try (HttpProxy proxy = proxy(small, 1, HttpFault.abort(503).schedule(Schedule.everyNth(4)))) {
      assertThat(requestsAnswered(503, proxy, 12)).containsExactly(4, 8, 12);
    }
  }

  @Test
  void delayHoldsTheRequestBeforeItReachesTheBackend() throws Exception {
    try (HttpProxy proxy = proxy(small, 1, HttpFault.delay(Duration.ofMillis(300)))) {
      get(proxy); // warm the connection pools
      long start = System.nanoTime();
      assertThat(get(proxy).statusCode()).isEqualTo(200);
      long total = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
      long untilBackend = TimeUnit.NANOSECONDS.toMillis(lastArrivalNanos.get() - start);
      assertThat(untilBackend).as("ms until the backend saw it").isBetween(295L, 300L + 500L);
      assertThat(total).as("ms in total").isBetween(295L, 300L + 700L);
    }
  }

  @Test
  void responseDelayHoldsTheAnswerNotTheRequest() throws Exception {
    try (HttpProxy proxy = proxy(small, 1, HttpFault.responseDelay(Duration.ofMillis(300)))) {
      get(proxy);
      long start = System.nanoTime();
      assertThat(get(proxy).statusCode()).isEqualTo(200);
      long total = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
      long untilBackend = TimeUnit.NANOSECONDS.toMillis(lastArrivalNanos.get() - start);
      assertThat(untilBackend).as("ms until the backend saw it").isLessThan(200);
      assertThat(total).as("ms in total").isBetween(295L, 300L + 700L);
    }
  }

  @Test
  void abortBodyResetsTheClientAfterExactlyNBodyBytes() throws Exception {
    try (HttpProxy proxy = proxy(big, 1, HttpFault.abortBody(1000))) {
      for (int round = 0; round < 5; round++) {
        try (Socket s = new Socket(InetAddress.getLoopbackAddress(), proxy.port())) {
          s.setSoTimeout(10_000);
          s.getOutputStream()
              .write("GET /big HTTP/1.1\r\nHost: x\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
          ByteArrayOutputStream got = new ByteArrayOutputStream();
          boolean reset = false;
          InputStream in = s.getInputStream();
          byte[] buf = new byte[8192];
          try {
            for (int n; (n = in.read(buf)) != -1; ) {
              got.write(buf, 0, n);
            }
          } catch (SocketException e) {
            reset = true;
          }
          String raw = got.toString(StandardCharsets.ISO_8859_1);
          int headEnd = raw.indexOf("\r\n\r\n");
          assertThat(raw).startsWith("HTTP/1.1 200").contains("Content-Length: " + BIG);
          assertThat(raw.length() - headEnd - 4).as("body bytes before the reset").isEqualTo(1000);
          assertThat(reset).as("the client saw a reset").isTrue();
        }
      }
      HttpEvent.Completed done =
          proxy.journal().await(HttpEvent.Completed.class, c -> true, Duration.ofSeconds(5));
      assertThat(done.faults()).containsExactly("AbortBody");
    }
  }

  @Test
  void slowBodyPacesTheResponseWithinTwentyPercent() throws Exception {
    try (HttpProxy proxy = proxy(big, 1, HttpFault.slowBody(96))) {
      long start = System.nanoTime();
      HttpResponse<byte[]> r = get(proxy);
      double seconds = (System.nanoTime() - start) / 1e9;
      assertThat(r.body()).hasSize(BIG);
      double kibPerSecond = BIG / 1024.0 / seconds;
      System.out.printf(
          "slowBody: configured 96 KiB/s, measured %.1f KiB/s over %d KiB%n",
          kibPerSecond, BIG / 1024);
      assertThat(kibPerSecond).as("measured KiB/s").isBetween(96 * 0.8, 96 * 1.2);
    }
  }

  @Test
  void resetRoutesUndoesReplacedRoutesAndRestartsFaultSchedules() throws Exception {
    try (HttpProxy proxy = proxy(small, 1, HttpFault.abort(503).schedule(Schedule.firstN(1)))) {
      assertThat(requestsAnswered(503, proxy, 3)).containsExactly(1);
      proxy.replaceRoutes(
          t ->
              t.route(
                  r ->
                      r.name("faulty")
                          .to(Cluster.of(small.name, small.backend()))
                          .fault(HttpFault.abort(418))));
      assertThat(get(proxy).statusCode()).isEqualTo(418);

      proxy.resetRoutes();
      assertThat(proxy.routes())
          .singleElement()
          .satisfies(
              r ->
                  assertThat(r.faults())
                      .containsExactly(HttpFault.abort(503).schedule(Schedule.firstN(1))));
      assertThat(requestsAnswered(503, proxy, 3))
          .as("firstN counts from 1 again")
          .containsExactly(1);
    }
  }

  @Test
  void badFaultsSayWhatToFix() {
    assertThatThrownBy(() -> HttpFault.abort(99))
        .hasMessage("abort status: 99 (expected: 200-599)");
    assertThatThrownBy(() -> HttpFault.abort(503).toxicity(1.01))
        .hasMessage("toxicity: 1.01 (expected: 0 to 1)");
    assertThatThrownBy(() -> HttpFault.abort(503).toxicity(30))
        .as("a percentage is not a toxicity")
        .hasMessage("toxicity: 30.0 (expected: 0 to 1)");
    assertThatThrownBy(() -> HttpFault.delay(Duration.ZERO).toxicity(-0.1))
        .hasMessage("toxicity: -0.1 (expected: 0 to 1)");
    assertThatThrownBy(() -> HttpFault.slowBody(0))
        .hasMessage("slowBody: 0 KiB/s (expected: >= 1)");
    assertThatThrownBy(() -> HttpFault.abortBody(-1))
        .hasMessage("abortBody: -1 bytes (expected: >= 0)");
    assertThatThrownBy(() -> HttpFault.delay(Duration.ofMillis(5)).whenHeader(" "))
        .hasMessage("whenHeader: blank (expected: a header name such as x-fault)");
  }
}
