package dev.meshlet.l7;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.meshlet.core.Backend;
import dev.meshlet.core.Balancer;
import dev.meshlet.core.Cluster;
import dev.meshlet.core.Endpoint;
import dev.meshlet.core.HealthCheck;
import dev.meshlet.core.OutlierDetection;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.eclipse.jetty.io.Content;
import org.eclipse.jetty.server.HttpConfiguration;
import org.eclipse.jetty.server.HttpConnectionFactory;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.util.Callback;
import org.eclipse.jetty.util.thread.QueuedThreadPool;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

/** Retries, circuit breakers, timeouts, health checks, live updates and drain, with real backends. */
@ExtendWith(NoLeakedThreads.class)
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class ResilienceTest {
  private static final long CLIENT_KEY = InetAddress.getLoopbackAddress().hashCode();
  private final List<AutoCloseable> resources = new ArrayList<>();
  private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();

  @AfterEach
  void tearDown() throws Exception {
    for (int i = resources.size() - 1; i >= 0; i--) {
      resources.get(i).close();
    }
    http.close();
  }

  private <T extends AutoCloseable> T track(T r) {
    resources.add(r);
    return r;
  }

  /** A manual clock for ejection and slow-start windows. */
  static final class ManualTicker implements dev.meshlet.core.Ticker {
    final AtomicLong now = new AtomicLong(1_000_000_000L);

    @Override
    public long nanoTime() {
      return now.get();
    }

    void advance(Duration d) {
      now.addAndGet(d.toNanos());
    }
  }

  /** A Jetty backend on a fixed port that can be stopped and started again, and made to fail. */
  static final class Box implements AutoCloseable {
    final String name;
    final Server server;
    final ServerConnector connector;
    final AtomicInteger requests = new AtomicInteger();
    volatile int status = 200;
    volatile int healthStatus = 200;
    volatile @org.jspecify.annotations.Nullable CountDownLatch hold;
    /** The 1st, 3rd, … request is answered 503 at once; the others wait for {@code hold}. */
    volatile boolean oddRequestsFail;

    Box(String name, long idleTimeoutMillis) throws Exception {
      this.name = name;
      QueuedThreadPool threads = new QueuedThreadPool(32, 2);
      threads.setName("backend-" + name);
      server = new Server(threads);
      HttpConfiguration config = new HttpConfiguration();
      config.setIdleTimeout(idleTimeoutMillis);
      connector = new ServerConnector(server, 1, 1, new HttpConnectionFactory(config));
      connector.setHost("127.0.0.1");
      connector.setIdleTimeout(idleTimeoutMillis);
      connector.setReuseAddress(true);
      server.addConnector(connector);
      server.setStopTimeout(0);
      server.setHandler(new org.eclipse.jetty.server.Handler.Abstract() {
        @Override
        public boolean handle(Request request, Response response, Callback callback) throws Exception {
          if (request.getHttpURI().getPath().equals("/healthz")) {
            response.setStatus(healthStatus);
            response.write(true, null, callback);
            return true;
          }
          int n = requests.incrementAndGet();
          if (oddRequestsFail && n % 2 == 1) {
            response.setStatus(503);
            response.write(true, null, callback);
            return true;
          }
          CountDownLatch h = hold;
          if (h != null) {
            h.await(20, TimeUnit.SECONDS);
          }
          int bodyLength = Content.Source.asByteBuffer(request).remaining();
          int s = status;
          response.setStatus(s);
          response.getHeaders().put("X-Backend", name);
          String text = name + (bodyLength > 0 ? ":" + bodyLength : "");
          response.write(true, ByteBuffer.wrap(text.getBytes(StandardCharsets.UTF_8)), callback);
          return true;
        }
      });
      server.start();
      connector.setPort(connector.getLocalPort()); // a restart binds the same port
    }

    Backend backend() {
      return Backend.of("127.0.0.1", connector.getPort()).withName(name);
    }

    void stop() throws Exception {
      server.stop();
    }

    void start() throws Exception {
      server.start();
    }

    @Override
    public void close() throws Exception {
      server.stop();
    }
  }

  private HttpResponse<String> get(HttpProxy proxy, String path) throws Exception {
    return http.send(HttpRequest.newBuilder(proxy.uri().resolve(path)).timeout(Duration.ofSeconds(20)).build(),
        HttpResponse.BodyHandlers.ofString());
  }

  private HttpResponse<String> post(HttpProxy proxy, int bytes) throws Exception {
    return http.send(HttpRequest.newBuilder(proxy.uri().resolve("/p"))
            .POST(HttpRequest.BodyPublishers.ofByteArray(new byte[bytes])).timeout(Duration.ofSeconds(20)).build(),
        HttpResponse.BodyHandlers.ofString());
  }

  private static RetryPolicy.Builder fastRetries() {
    return RetryPolicy.builder().maxAttempts(3).backoff(Duration.ofMillis(1), Duration.ofMillis(5));
  }

  @Test
  void backendKilledUnderLoadFailsNoRequestLeavesWithinDetectionAndReturnsWithSlowStart() throws Exception {
    ManualTicker ticker = new ManualTicker();
    Box a = track(new Box("a", 30_000));
    Box b = track(new Box("b", 30_000));
    Cluster cluster = Cluster.builder("web").backends(a.backend(), b.backend())
        .outlierDetection(OutlierDetection.consecutiveFailures(3).withEjectionTime(Duration.ofSeconds(30), Duration.ofSeconds(60)))
        .slowStart(Duration.ofSeconds(10))
        .ticker(ticker)
        .build();
    HttpProxy proxy = track(HttpProxy.builder().listen("127.0.0.1", 0)
        .retryPolicy(fastRetries().perTryTimeout(Duration.ofSeconds(2)).build())
        .defaultRoute(cluster).start());
    Endpoint eb = cluster.endpoints().get(1);

    AtomicBoolean running = new AtomicBoolean(true);
    AtomicInteger sent = new AtomicInteger();
    ConcurrentLinkedQueue<String> failures = new ConcurrentLinkedQueue<>();
    List<Thread> clients = new ArrayList<>();
    for (int i = 0; i < 2; i++) {
      clients.add(Thread.ofVirtual().start(() -> {
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
    HttpProxyStats s = Await.idle(proxy).stats();
    System.out.printf("kill test: %d requests, %d failed, b ejected %d ms after the kill, retries %s%n",
        sent.get(), failures.size(), detectionMillis, s.retries());
    assertThat(failures).isEmpty();
    assertThat(detectionMillis).isLessThan(5_000);
    assertThat(s.retries().total()).isPositive();
  }

  @Test
  void httpHealthCheckTakesAFailingBackendOutAndBringsItBack() throws Exception {
    Box a = track(new Box("a", 30_000));
    Box b = track(new Box("b", 30_000));
    Cluster cluster = track(Cluster.builder("web").backends(a.backend(), b.backend())
        .healthCheck(HttpHealthCheck.get("/healthz").withInterval(Duration.ofMillis(20)).withThresholds(1, 2))
        .build());
    HttpProxy proxy = track(HttpProxy.builder().listen("127.0.0.1", 0).defaultRoute(cluster).start());
    Endpoint eb = cluster.endpoints().get(1);
    b.healthStatus = 500;
    // the flag flips just before the balancer's list is rebuilt: wait for both
    Await.until("b unhealthy", () -> !eb.healthy() && cluster.available().size() == 1);
    dev.meshlet.core.ClusterStats web = proxy.stats().clusters().get("web");
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
    Await.until("b serves again", () -> {
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

  /** Which of two backends the cluster picks first for requests from 127.0.0.1 (consistent hashing). */
  private static int firstPick(Cluster c) {
    return c.endpoints().indexOf(c.pick(CLIENT_KEY));
  }

  @Test
  void postIsRetriedOnlyWhenItsBodyFitsTheReplayBuffer() throws Exception {
    Box x = track(new Box("x", 30_000));
    Box y = track(new Box("y", 30_000));
    Cluster cluster = Cluster.builder("c").backends(x.backend(), y.backend()).balancer(Balancer.consistentHash()).build();
    Box bad = firstPick(cluster) == 0 ? x : y;
    Box good = bad == x ? y : x;
    bad.status = 503;
    HttpProxy proxy = track(HttpProxy.builder().listen("127.0.0.1", 0)
        .retryPolicy(fastRetries().replayBuffer(1024).build()).defaultRoute(cluster).start());

    HttpResponse<String> small = post(proxy, 100);
    assertThat(small.statusCode()).isEqualTo(200);
    assertThat(small.body()).isEqualTo(good.name + ":100"); // the body was replayed whole
    assertThat(bad.requests.get()).isEqualTo(1);

    HttpResponse<String> big = post(proxy, 4096);
    assertThat(big.statusCode()).isEqualTo(503);
    assertThat(big.body()).isEqualTo(bad.name + ":4096");
    assertThat(good.requests.get()).isEqualTo(1);
    HttpProxyStats s = Await.idle(proxy).stats();
    assertThat(s.retries().count(HttpProxyStats.RetryReason.STATUS)).isEqualTo(1);
    assertThat(s.retries().notReplayable()).isEqualTo(1);
  }

  @Test
  void idempotentOnlyPolicyDoesNotRetryPost() throws Exception {
    Box bad = track(new Box("bad", 30_000));
    bad.status = 503;
    Box good = track(new Box("good", 30_000));
    Cluster cluster = Cluster.of("c", bad.backend(), good.backend());
    HttpProxy proxy = track(HttpProxy.builder().listen("127.0.0.1", 0)
        .route(r -> r.retryPolicy(fastRetries().idempotentOnly(true).build()).to(cluster)).start());
    int statuses503 = 0;
    for (int i = 0; i < 4; i++) {
      statuses503 += post(proxy, 10).statusCode() == 503 ? 1 : 0;
    }
    assertThat(statuses503).isEqualTo(2); // round robin: every other POST hits bad and is not retried
    assertThat(Await.idle(proxy).stats().retries().total()).isZero();
  }

  @Test
  void stalePooledConnectionClosedByTheBackendNeverReachesTheClient() throws Exception {
    // A backend that closes a kept-alive connection when the next request arrives on it, unanswered:
    // the keep-alive race, every time. No retry policy: the stale-connection retry is always on.
    try (ServerSocket server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress())) {
      AtomicInteger seen = new AtomicInteger();
      Thread acceptor = Thread.ofVirtual().start(() -> {
        while (!server.isClosed()) {
          try {
            Socket s = server.accept();
            Thread.ofVirtual().start(() -> serveOnceThenDrop(s, seen));
          } catch (IOException e) {
            return;
          }
        }
      });
      Cluster c = Cluster.of("c", Backend.of("127.0.0.1", server.getLocalPort()));
      HttpProxy proxy = track(HttpProxy.builder().listen("127.0.0.1", 0).defaultRoute(c).start());
      for (int i = 0; i < 20; i++) {
        HttpResponse<String> r = i % 2 == 0 ? get(proxy, "/g") : http.send(HttpRequest.newBuilder(proxy.uri().resolve("/p"))
            .DELETE().build(), HttpResponse.BodyHandlers.ofString());
        assertThat(r.statusCode()).as("request %d", i).isEqualTo(200);
      }
      HttpProxyStats s = Await.idle(proxy).stats();
      assertThat(s.retries().count(HttpProxyStats.RetryReason.STALE_CONNECTION)).isGreaterThanOrEqualTo(19);
      assertThat(s.total().status5xx()).isZero();
      assertThat(c.endpoints().get(0).stats().ejected()).isFalse();
      server.close();
      acceptor.join();
    }
  }

  @Test
  void streamedBodyOnAStaleConnectionIsReplayedWhole() throws Exception {
    // No retry policy, so bodies stream; PUT is idempotent, so a stale connection is always retried.
    // The backend drops every second request on a connection after
    // reading only its head. What the proxy sent of each body (at most 40 KiB) is replayed on a fresh
    // connection, then the rest follows from the client: every body reaches the backend exact.
    try (DroppingBackend backend = new DroppingBackend(0)) {
      Cluster c = Cluster.of("c", Backend.of("127.0.0.1", backend.port()));
      HttpProxy proxy = track(HttpProxy.builder().listen("127.0.0.1", 0).defaultRoute(c).start());
      java.util.Random random = new java.util.Random(42);
      for (int i = 0; i < 12; i++) {
        byte[] body = new byte[i % 3 == 0 ? 5 : 1000 + random.nextInt(40_000)];
        random.nextBytes(body);
        HttpRequest.BodyPublisher publisher = i % 2 == 0
            ? HttpRequest.BodyPublishers.ofByteArray(body) // Content-Length
            : HttpRequest.BodyPublishers.ofInputStream(() -> new java.io.ByteArrayInputStream(body)); // chunked
        HttpResponse<String> r = http.send(HttpRequest.newBuilder(proxy.uri().resolve("/drop"))
            .PUT(publisher).timeout(Duration.ofSeconds(20)).build(), HttpResponse.BodyHandlers.ofString());
        assertThat(r.statusCode()).as("request %d", i).isEqualTo(200);
        assertThat(r.body()).as("request %d", i).isEqualTo(DroppingBackend.digest(body));
      }
      HttpProxyStats s = Await.idle(proxy).stats();
      // usually 11 (each request after the first lands on a used connection); fewer when the pool
      // opened a fresh connection because the previous one was not back in it yet
      assertThat(backend.dropped.get()).isPositive();
      assertThat(s.retries().count(HttpProxyStats.RetryReason.STALE_CONNECTION)).isEqualTo(backend.dropped.get());
      assertThat(s.retries().notReplayable()).isZero();
      assertThat(s.total().status5xx()).isZero();
      assertThat(s.total().bytesIn()).as("replayed bytes are not counted twice")
          .isLessThanOrEqualTo(12L * 41_000);
    }
  }

  @Test
  void chunkedBodyReadAheadInSmallChunksIsReplayedWholeAfterAStaleConnection() throws Exception {
    // Many small chunks in one write are read ahead and held as one before the try is sent; the
    // backend drops the used connection after the head, and the held bytes are replayed exact.
    try (DroppingBackend backend = new DroppingBackend(0)) {
      Cluster c = Cluster.of("c", Backend.of("127.0.0.1", backend.port()));
      HttpProxy proxy = track(HttpProxy.builder().listen("127.0.0.1", 0).defaultRoute(c).start());
      java.io.ByteArrayOutputStream body = new java.io.ByteArrayOutputStream();
      StringBuilder wire = new StringBuilder();
      for (int i = 0; body.size() < 20_000; i++) {
        String data = String.valueOf((char) ('a' + i % 26)).repeat(1 + i % 37);
        wire.append(Integer.toHexString(data.length())).append("\r\n").append(data).append("\r\n");
        body.writeBytes(data.getBytes(StandardCharsets.US_ASCII));
      }
      // on a fresh connection (the warm one not back in the pool yet) it is simply answered: try again
      for (int i = 0; i < 10 && backend.dropped.get() == 0; i++) {
        assertThat(post(proxy, 10).statusCode()).isEqualTo(200); // "/p": always answered, warms a connection
        Raw.Reply r = Raw.exchange(proxy.port(), "PUT /drop HTTP/1.1\r\nHost: h\r\nConnection: close\r\n"
            + "Transfer-Encoding: chunked\r\n\r\n" + wire + "0\r\n\r\n");
        assertThat(r.status()).as(r.raw()).isEqualTo(200);
        assertThat(r.body()).isEqualTo(DroppingBackend.digest(body.toByteArray()));
      }
      assertThat(backend.dropped.get()).isEqualTo(1);
      HttpProxyStats s = Await.idle(proxy).stats();
      assertThat(s.retries().count(HttpProxyStats.RetryReason.STALE_CONNECTION)).isEqualTo(1);
      assertThat(s.retries().notReplayable()).isZero();
    }
  }

  @Test
  void streamedBodyPastTheReplayWindowIsNotRetried() throws Exception {
    // The backend reads 100 KiB of the second request's body, then drops the connection unanswered:
    // the proxy sent more than it keeps for replay, so the client gets 502 and nothing is retried.
    try (DroppingBackend backend = new DroppingBackend(100 * 1024)) {
      Cluster c = Cluster.of("c", Backend.of("127.0.0.1", backend.port()));
      HttpProxy proxy = track(HttpProxy.builder().listen("127.0.0.1", 0).defaultRoute(c).start());
      byte[] big = new byte[1 << 20];
      // a big POST lands on a used connection unless the pool opened a fresh one for it (the previous
      // one not back in the pool yet); then it is answered and the pair is sent again
      for (int i = 0; i < 10 && backend.dropped.get() == 0; i++) {
        assertThat(post(proxy, 10).statusCode()).isEqualTo(200); // "/p": always answered, warms a connection
        HttpResponse<String> r = http.send(HttpRequest.newBuilder(proxy.uri().resolve("/drop"))
            .PUT(HttpRequest.BodyPublishers.ofByteArray(big)).timeout(Duration.ofSeconds(20)).build(),
            HttpResponse.BodyHandlers.ofString());
        assertThat(r.statusCode()).isEqualTo(backend.dropped.get() == 1 ? 502 : 200);
      }
      assertThat(backend.dropped.get()).isEqualTo(1);
      HttpProxyStats s = Await.idle(proxy).stats();
      assertThat(s.retries().total()).isZero();
      assertThat(s.retries().notReplayable()).isEqualTo(1);
    }
  }

  @Test
  void postTheBackendMayHaveReceivedWholeIsNotSentTwice() throws Exception {
    // The backend reads a POST whole (head and body), then closes without answering: it may have
    // acted on it. Without a retry policy the proxy must not send it again (RFC 9110 §9.2.2): 502.
    try (DroppingBackend backend = new DroppingBackend(5)) {
      Cluster c = Cluster.of("c", Backend.of("127.0.0.1", backend.port()));
      HttpProxy proxy = track(HttpProxy.builder().listen("127.0.0.1", 0).defaultRoute(c).start());
      for (int i = 0; i < 10 && backend.dropped.get() == 0; i++) {
        assertThat(post(proxy, 1).statusCode()).isEqualTo(200); // "/p": always answered, warms a connection
        HttpResponse<String> r = http.send(HttpRequest.newBuilder(proxy.uri().resolve("/drop-pay"))
            .POST(HttpRequest.BodyPublishers.ofString("$1000")).timeout(Duration.ofSeconds(20)).build(),
            HttpResponse.BodyHandlers.ofString());
        // on a fresh connection (the warm one not back in the pool yet) it is simply answered
        assertThat(r.statusCode()).isEqualTo(backend.dropped.get() == 1 ? 502 : 200);
      }
      assertThat(backend.dropped.get()).isEqualTo(1);
      HttpProxyStats s = Await.idle(proxy).stats();
      assertThat(s.retries().total()).isZero();
      assertThat(s.total().errors(HttpProxyStats.ErrorKind.BAD_GATEWAY)).isEqualTo(1);
    }
  }

  /**
   * A raw HTTP/1.1 backend that answers each request with a digest of its body, except a request for
   * {@code /drop…} that is not the first on its connection: of that it reads the head (and up to
   * {@code readBeforeDrop} bytes of the body), then closes the connection unanswered — the keep-alive
   * race, every time.
   */
  private static final class DroppingBackend implements AutoCloseable {
    final AtomicInteger answered = new AtomicInteger();
    final AtomicInteger dropped = new AtomicInteger();
    private final ServerSocket server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
    private final int readBeforeDrop;
    private final Thread acceptor;

    DroppingBackend(int readBeforeDrop) throws IOException {
      this.readBeforeDrop = readBeforeDrop;
      acceptor = Thread.ofVirtual().start(() -> {
        while (!server.isClosed()) {
          try {
            Socket s = server.accept();
            Thread.ofVirtual().start(() -> serve(s));
          } catch (IOException e) {
            return;
          }
        }
      });
    }

    int port() {
      return server.getLocalPort();
    }

    static String digest(byte[] body) {
      java.util.zip.CRC32 crc = new java.util.zip.CRC32();
      crc.update(body);
      return body.length + ":" + Long.toHexString(crc.getValue());
    }

    private void serve(Socket s) {
      try (s) {
        java.io.BufferedInputStream in = new java.io.BufferedInputStream(s.getInputStream());
        OutputStream out = s.getOutputStream();
        for (int n = 0; ; n++) {
          String head = readHeadText(in);
          if (head == null) {
            return;
          }
          String lower = head.toLowerCase(java.util.Locale.ROOT);
          int length = lower.contains("content-length:")
              ? Integer.parseInt(lower.substring(lower.indexOf("content-length:") + 15,
                  lower.indexOf('\r', lower.indexOf("content-length:"))).strip())
              : -1;
          if (n > 0 && head.startsWith("/drop", head.indexOf(' ') + 1)) {
            in.readNBytes(length >= 0 ? Math.min(readBeforeDrop, length) : readBeforeDrop);
            dropped.incrementAndGet();
            return; // a second request on a connection: close it unanswered
          }
          byte[] body;
          if (lower.contains("transfer-encoding: chunked")) {
            java.io.ByteArrayOutputStream b = new java.io.ByteArrayOutputStream();
            while (true) {
              int size = Integer.parseInt(line(in).split(";")[0].strip(), 16);
              if (size == 0) {
                while (!line(in).isEmpty()) { } // trailers
                break;
              }
              b.write(in.readNBytes(size));
              line(in);
            }
            body = b.toByteArray();
          } else {
            body = length < 0 ? new byte[0] : in.readNBytes(length);
          }
          byte[] answer = digest(body).getBytes(StandardCharsets.US_ASCII);
          out.write(("HTTP/1.1 200 OK\r\nContent-Length: " + answer.length + "\r\n\r\n")
              .getBytes(StandardCharsets.US_ASCII));
          out.write(answer);
          out.flush();
          answered.incrementAndGet();
        }
      } catch (IOException | RuntimeException ignored) {
        // the proxy closed
      }
    }

    private static @org.jspecify.annotations.Nullable String readHeadText(InputStream in) throws IOException {
      StringBuilder head = new StringBuilder();
      for (String l; !(l = line(in)).isEmpty(); ) {
        head.append(l).append("\r\n");
      }
      return head.isEmpty() ? null : head.toString();
    }

    private static String line(InputStream in) throws IOException {
      StringBuilder b = new StringBuilder();
      for (int c; (c = in.read()) != -1 && c != '\n'; ) {
        if (c != '\r') {
          b.append((char) c);
        }
      }
      return b.toString();
    }

    @Override
    public void close() throws Exception {
      server.close();
      acceptor.join();
    }
  }

  private static void serveOnceThenDrop(Socket s, AtomicInteger seen) {
    try (s) {
      InputStream in = s.getInputStream();
      OutputStream out = s.getOutputStream();
      for (int n = 0; ; n++) {
        if (!readHead(in)) {
          return;
        }
        seen.incrementAndGet();
        if (n > 0) {
          return; // the second request on a connection: close it unanswered
        }
        out.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".getBytes(StandardCharsets.US_ASCII));
        out.flush();
      }
    } catch (IOException ignored) {
      // the proxy closed
    }
  }

  private static boolean readHead(InputStream in) throws IOException {
    int state = 0;
    for (int c; (c = in.read()) != -1; ) {
      state = (c == '\r' && (state == 0 || state == 2)) || (c == '\n' && (state == 1 || state == 3)) ? state + 1 : 0;
      if (state == 4) {
        return true;
      }
    }
    return false;
  }

  @Test
  void backendWithShortKeepAliveTimeoutCausesNo502() throws Exception {
    Box b = track(new Box("b", 150));
    Cluster c = Cluster.of("c", b.backend());
    HttpProxy proxy = track(HttpProxy.builder().listen("127.0.0.1", 0).defaultRoute(c).start());
    ScheduledExecutorService pace = Executors.newSingleThreadScheduledExecutor();
    try {
      for (int i = 0; i < 16; i++) {
        HttpResponse<String> r = get(proxy, "/x");
        assertThat(r.statusCode()).as("request %d", i).isEqualTo(200);
        // spaced around the backend's 150 ms idle timeout, so its close races the next request
        long gap = 140 + (i % 4) * 8;
        pace.schedule(() -> { }, gap, TimeUnit.MILLISECONDS).get();
      }
    } finally {
      pace.shutdownNow();
    }
    assertThat(Await.idle(proxy).stats().total().status5xx()).isZero();
  }

  @Test
  void circuitBreakerOverflowIs503AtOnceWithTheReason() throws Exception {
    Box b = track(new Box("b", 30_000));
    CountDownLatch hold = new CountDownLatch(1);
    b.hold = hold;
    Cluster c = Cluster.builder("slow").backends(b.backend()).maxActive(1).build();
    HttpProxy proxy = track(HttpProxy.builder().listen("127.0.0.1", 0).defaultRoute(c).start());
    CompletableFuture<HttpResponse<String>> first = http.sendAsync(
        HttpRequest.newBuilder(proxy.uri().resolve("/1")).build(), HttpResponse.BodyHandlers.ofString());
    Await.until("the first request reached the backend", () -> b.requests.get() == 1);
    long start = System.nanoTime();
    HttpResponse<String> second = get(proxy, "/2");
    long millis = (System.nanoTime() - start) / 1_000_000;
    assertThat(second.statusCode()).isEqualTo(503);
    assertThat(second.headers().firstValue("X-Meshlet-Overflow")).hasValue("cluster slow max requests");
    assertThat(millis).as("ms, while the first is held for good").isLessThan(5_000);
    hold.countDown();
    assertThat(first.get(20, TimeUnit.SECONDS).statusCode()).isEqualTo(200);
    HttpProxyStats s = Await.idle(proxy).stats();
    assertThat(s.total().errors(HttpProxyStats.ErrorKind.OVERFLOW)).isEqualTo(1);
    assertThat(c.stats().overflows()).isEqualTo(1);
    assertThat(c.stats().active()).isZero();
    assertThat(b.requests.get()).isEqualTo(1);
  }

  @Test
  void pendingRequestsOverflowIs503WithTheReason() throws Exception {
    Box b = track(new Box("b", 30_000));
    CountDownLatch hold = new CountDownLatch(1);
    b.hold = hold;
    Cluster c = Cluster.of("c", b.backend());
    HttpProxy proxy = track(HttpProxy.builder().listen("127.0.0.1", 0).defaultRoute(c)
        .maxConnectionsPerBackend(1).maxPendingRequestsPerBackend(1).start());
    CompletableFuture<HttpResponse<String>> first = http.sendAsync(
        HttpRequest.newBuilder(proxy.uri().resolve("/1")).build(), HttpResponse.BodyHandlers.ofString());
    Await.until("the first request reached the backend", () -> b.requests.get() == 1);
    List<CompletableFuture<HttpResponse<String>>> more = new ArrayList<>();
    for (int i = 0; i < 3; i++) { // one of them waits for the connection, two overflow
      more.add(http.sendAsync(HttpRequest.newBuilder(proxy.uri().resolve("/m" + i)).build(),
          HttpResponse.BodyHandlers.ofString()));
    }
    Await.until("two refused", () -> more.stream().filter(CompletableFuture::isDone).count() == 2);
    for (CompletableFuture<HttpResponse<String>> f : more) {
      if (f.isDone()) {
        assertThat(f.get().statusCode()).isEqualTo(503);
        assertThat(f.get().headers().firstValue("X-Meshlet-Overflow")).hasValue("backend b max pending requests");
      }
    }
    hold.countDown();
    assertThat(first.get(20, TimeUnit.SECONDS).statusCode()).isEqualTo(200);
    for (CompletableFuture<HttpResponse<String>> f : more) {
      assertThat(f.get(20, TimeUnit.SECONDS).statusCode()).isIn(200, 503);
    }
    HttpProxyStats s = Await.idle(proxy).stats();
    assertThat(s.total().errors(HttpProxyStats.ErrorKind.PENDING_OVERFLOW)).isEqualTo(2);
    assertThat(c.endpoints().get(0).stats().failures()).isZero(); // an overflow is not the backend's fault
  }

  @Test
  void clusterPendingLimitCountsRequestsWaitingForAConnectionAcrossThePool() throws Exception {
    Box a = track(new Box("a", 30_000));
    Box b = track(new Box("b", 30_000));
    CountDownLatch hold = new CountDownLatch(1);
    a.hold = hold;
    b.hold = hold;
    Cluster c = Cluster.builder("pool").backends(a.backend(), b.backend()).maxPending(2).build();
    HttpProxy proxy = track(HttpProxy.builder().listen("127.0.0.1", 0).defaultRoute(c)
        .maxConnectionsPerBackend(1).start());
    List<CompletableFuture<HttpResponse<String>>> busy = new ArrayList<>();
    for (int i = 0; i < 2; i++) { // one per backend: both connections busy
      busy.add(http.sendAsync(HttpRequest.newBuilder(proxy.uri().resolve("/b" + i)).build(),
          HttpResponse.BodyHandlers.ofString()));
    }
    Await.until("both backends busy", () -> a.requests.get() + b.requests.get() == 2);
    List<CompletableFuture<HttpResponse<String>>> more = new ArrayList<>();
    for (int i = 0; i < 5; i++) { // two wait for a connection (one per backend), three overflow
      more.add(http.sendAsync(HttpRequest.newBuilder(proxy.uri().resolve("/m" + i)).build(),
          HttpResponse.BodyHandlers.ofString()));
    }
    Await.until("three refused", () -> more.stream().filter(CompletableFuture::isDone).count() == 3);
    assertThat(c.stats().pending()).isEqualTo(2);
    for (CompletableFuture<HttpResponse<String>> f : more) {
      if (f.isDone()) {
        assertThat(f.get().statusCode()).isEqualTo(503);
        assertThat(f.get().headers().firstValue("X-Meshlet-Overflow")).hasValue("cluster pool max pending requests");
      }
    }
    hold.countDown();
    for (CompletableFuture<HttpResponse<String>> f : busy) {
      assertThat(f.get(20, TimeUnit.SECONDS).statusCode()).isEqualTo(200);
    }
    for (CompletableFuture<HttpResponse<String>> f : more) {
      assertThat(f.get(20, TimeUnit.SECONDS).statusCode()).isIn(200, 503);
    }
    HttpProxyStats s = Await.idle(proxy).stats();
    assertThat(s.total().errors(HttpProxyStats.ErrorKind.PENDING_OVERFLOW)).isEqualTo(3);
    dev.meshlet.core.ClusterStats cs = s.clusters().get("pool");
    assertThat(cs.pendingOverflows()).isEqualTo(3);
    assertThat(cs.pending()).isZero();
    assertThat(cs.active()).isZero();
    assertThat(a.requests.get() + b.requests.get()).isEqualTo(4);
  }

  @Test
  void perTryTimeoutRetriesOnAnotherBackendAndTheRequestTimeoutIs504() throws Exception {
    Box x = track(new Box("x", 30_000));
    Box y = track(new Box("y", 30_000));
    Cluster cluster = Cluster.builder("c").backends(x.backend(), y.backend()).balancer(Balancer.consistentHash()).build();
    Box slow = firstPick(cluster) == 0 ? x : y;
    Box fast = slow == x ? y : x;
    CountDownLatch hold = new CountDownLatch(1);
    slow.hold = hold;
    HttpProxy proxy = track(HttpProxy.builder().listen("127.0.0.1", 0)
        .route(r -> r.name("retried").pathPrefix("/r").retryPolicy(fastRetries().perTryTimeout(Duration.ofSeconds(1)).build())
            .to(cluster))
        .route(r -> r.name("bounded").pathPrefix("/t").requestTimeout(Duration.ofMillis(300)).to(cluster))
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
    HttpProxyStats s = Await.idle(proxy).stats();
    assertThat(s.retries().count(HttpProxyStats.RetryReason.PER_TRY_TIMEOUT)).isEqualTo(1);
    assertThat(s.routes().get("bounded").errors(HttpProxyStats.ErrorKind.GATEWAY_TIMEOUT)).isEqualTo(1);
  }

  @Test
  void requestTimeoutAnswers504WhileAChunkedBodyHasNotStartedAndNothingGoesUpstream() throws Exception {
    Box box = track(new Box("b", 30_000));
    HttpProxy proxy = track(HttpProxy.builder().listen("127.0.0.1", 0).requestTimeout(Duration.ofMillis(300))
        .defaultRoute(Cluster.of("c", box.backend())).start());
    try (Socket s = new Socket("127.0.0.1", proxy.port())) {
      s.setSoTimeout(10_000);
      s.getOutputStream().write("POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
          .getBytes(StandardCharsets.US_ASCII)); // and no body: the proxy waits for it before dialing
      InputStream in = s.getInputStream();
      StringBuilder head = new StringBuilder();
      for (int c; head.indexOf("\r\n\r\n") < 0 && (c = in.read()) >= 0; ) {
        head.append((char) c);
      }
      assertThat(head.toString()).startsWith("HTTP/1.1 504");
    }
    HttpProxyStats st = Await.idle(proxy).stats();
    assertThat(st.total().errors(HttpProxyStats.ErrorKind.GATEWAY_TIMEOUT)).isEqualTo(1);
    assertThat(box.requests.get()).as("requests that reached the backend").isZero();
  }

  @Test
  void requestTimeoutRacingAPendingOverflowAnswersOnceAndLeavesNoCountBehind() throws Exception {
    Box b = track(new Box("b", 30_000));
    CountDownLatch hold = new CountDownLatch(1);
    b.hold = hold;
    Cluster c = Cluster.builder("c").backends(b.backend()).maxPending(1).build();
    long[] timeoutsNanos = {1_000, 20_000, 50_000, 100_000, 200_000}; // about when send() refuses with 503
    HttpProxy.Builder builder = HttpProxy.builder().listen("127.0.0.1", 0).maxConnectionsPerBackend(1)
        .route(r -> r.name("slow").pathPrefix("/slow").to(c));
    for (long t : timeoutsNanos) {
      builder.route(r -> r.name("t" + t).pathPrefix("/t" + t + "/").requestTimeout(Duration.ofNanos(t)).to(c));
    }
    HttpProxy proxy = track(builder.start());
    List<CompletableFuture<HttpResponse<String>>> slow = new ArrayList<>();
    slow.add(http.sendAsync(HttpRequest.newBuilder(proxy.uri().resolve("/slow/0")).build(),
        HttpResponse.BodyHandlers.ofString()));
    Await.until("the backend holds the first request", () -> b.requests.get() == 1);
    slow.add(http.sendAsync(HttpRequest.newBuilder(proxy.uri().resolve("/slow/1")).build(),
        HttpResponse.BodyHandlers.ofString()));
    Await.until("the second waits for the connection: the pending limit is full", () -> c.stats().pending() == 1);

    int perTimeout = 400;
    List<String> bad = new ArrayList<>();
    for (long t : timeoutsNanos) {
      Socket s = null;
      for (int i = 0; i < perTimeout; i++) {
        if (s == null) {
          s = new Socket("127.0.0.1", proxy.port());
          s.setSoTimeout(10_000);
        }
        s.getOutputStream().write(("GET /t" + t + "/" + i + " HTTP/1.1\r\nHost: h\r\n\r\n")
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
    HttpProxyStats st = Await.idle(proxy).stats();
    assertThat(bad).as("answers that were not one clean 503 or 504 (on a connection kept alive)").isEmpty();
    for (long t : timeoutsNanos) {
      HttpProxyStats.Counts rc = st.routes().get("t" + t);
      assertThat(rc.errors(HttpProxyStats.ErrorKind.PENDING_OVERFLOW) + rc.errors(HttpProxyStats.ErrorKind.GATEWAY_TIMEOUT))
          .as("route t" + t + " errors " + rc.errors()).isEqualTo(perTimeout);
    }
    assertThat(st.backends().get("b").inFlight()).as("backend b in flight").isZero();
    assertThat(c.endpoints().get(0).active()).as("endpoint b active").isZero();
    assertThat(c.stats().pending()).isZero();
    assertThat(c.stats().active()).isZero();
  }

  @Test
  void requestTimeoutRacingABadChunkAnswersOnce() throws Exception {
    Box b = track(new Box("b", 30_000));
    Cluster c = Cluster.of("c", b.backend());
    long[] timeoutsNanos = {1_000, 20_000, 50_000, 100_000, 200_000}; // about when the bad chunk is read
    HttpProxy.Builder builder = HttpProxy.builder().listen("127.0.0.1", 0);
    for (long t : timeoutsNanos) {
      builder.route(r -> r.name("t" + t).pathPrefix("/t" + t + "/").requestTimeout(Duration.ofNanos(t)).to(c));
    }
    HttpProxy proxy = track(builder.start());
    int perTimeout = 200;
    List<String> bad = new ArrayList<>();
    for (long t : timeoutsNanos) {
      for (int i = 0; i < perTimeout; i++) {
        try (Socket s = new Socket("127.0.0.1", proxy.port())) {
          s.setSoTimeout(10_000);
          s.getOutputStream().write(("POST /t" + t + "/" + i + " HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
              + "\r\nzz\r\n").getBytes(StandardCharsets.US_ASCII)); // a chunk size that is no number
          String answer = oneAnswer(s.getInputStream());
          if (!answer.equals("400") && !answer.equals("504")) {
            bad.add(t + " ns: " + answer);
          }
        }
      }
    }
    HttpProxyStats st = Await.idle(proxy).stats();
    assertThat(bad).as("answers that were not one clean 400 or 504").isEmpty();
    assertThat(st.total().errors(HttpProxyStats.ErrorKind.BAD_REQUEST) + st.total().errors(HttpProxyStats.ErrorKind.GATEWAY_TIMEOUT))
        .as("errors " + st.total().errors()).isEqualTo(perTimeout * timeoutsNanos.length);
    assertThat(st.backends().get("b").inFlight()).as("backend b in flight").isZero();
    assertThat(c.endpoints().get(0).active()).as("endpoint b active").isZero();
    assertThat(b.requests.get()).isZero();
  }

  @Test
  void requestTimeoutAmongImmediateRetriesAlwaysAnswers() throws Exception {
    int attempts = 10;
    CountDownLatch hold = new CountDownLatch(1);
    java.util.concurrent.ConcurrentHashMap<String, Integer> tries = new java.util.concurrent.ConcurrentHashMap<>();
    TestBackend b = track(TestBackend.with("b", (request, response, callback) -> {
      // 503 (retried at once) to all tries but the last, which is held: only a request timeout that aborted
      // nothing (one landing as Jetty builds a try's exchange, say) leaves the client waiting for it
      if (tries.merge(request.getHeaders().get("X-Request-ID"), 1, Integer::sum) < attempts) {
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
    RetryPolicy immediate = RetryPolicy.builder().maxAttempts(attempts).backoff(Duration.ZERO, Duration.ZERO).build();
    long[] timeoutsMicros = {100, 150, 200, 250, 300, 400, 600, 1_000}; // about when tries are handed over
    HttpProxy.Builder builder = HttpProxy.builder().listen("127.0.0.1", 0);
    for (long t : timeoutsMicros) {
      builder.route(r -> r.name("t" + t).pathPrefix("/t" + t + "/").retryPolicy(immediate)
          .requestTimeout(Duration.ofNanos(t * 1_000)).to(c));
    }
    HttpProxy proxy = track(builder.start());
    List<String> lost = new ArrayList<>();
    for (int i = 0; i < 250 && lost.size() < 3; i++) {
      for (long t : timeoutsMicros) {
        try {
          HttpResponse<String> r = http.send(HttpRequest.newBuilder(proxy.uri().resolve("/t" + t + "/" + i))
              .timeout(Duration.ofSeconds(5)).build(), HttpResponse.BodyHandlers.ofString());
          assertThat(r.statusCode()).as("after a request timeout of " + t + " µs").isIn(503, 504);
        } catch (java.net.http.HttpTimeoutException e) {
          lost.add(t + " µs: no answer in 5 s");
        }
      }
    }
    hold.countDown();
    assertThat(lost).isEmpty();
    Await.idle(proxy);
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
      String h = head.toString().toLowerCase(java.util.Locale.ROOT);
      String status = h.substring(9, 12);
      int cl = h.indexOf("content-length:");
      if (cl < 0) {
        return "no Content-Length [" + head + "]";
      }
      int length = Integer.parseInt(h.substring(cl + 15, h.indexOf("\r\n", cl)).strip());
      String body = new String(in.readNBytes(length), StandardCharsets.US_ASCII);
      boolean overflow = h.contains("x-meshlet-overflow: cluster c max pending requests");
      boolean clean = switch (status) {
        case "504" -> body.equals("504 Gateway Timeout\n") && !overflow;
        case "503" -> body.equals("503 Service Unavailable: cluster c max pending requests\n") && overflow;
        case "400" -> body.equals("400 Bad Request\n") && !overflow && h.contains("connection: close");
        default -> false;
      };
      return clean ? status : "[" + head + body + "]";
    } catch (IOException e) {
      return e + " after [" + head + "]";
    }
  }

  @Test
  void retryBudgetStopsRetries() throws Exception {
    Box bad = track(new Box("bad", 30_000));
    bad.status = 503;
    Cluster c = Cluster.of("c", bad.backend());
    HttpProxy proxy = track(HttpProxy.builder().listen("127.0.0.1", 0)
        .retryPolicy(fastRetries().budget(0, 0).build()).defaultRoute(c).start());
    assertThat(get(proxy, "/x").statusCode()).isEqualTo(503);
    HttpProxyStats s = Await.idle(proxy).stats();
    assertThat(s.retries().total()).isZero();
    assertThat(s.retries().budgetExhausted()).isEqualTo(1);
    assertThat(bad.requests.get()).isEqualTo(1);
  }

  @Test
  void retryBudgetIsPerCluster() throws Exception {
    CountDownLatch hold = new CountDownLatch(1);
    Box a = track(new Box("a", 30_000));
    Box b = track(new Box("b", 30_000));
    for (Box box : List.of(a, b)) {
      box.oddRequestsFail = true;
      box.hold = hold;
    }
    Cluster ca = Cluster.of("ca", a.backend());
    Cluster cb = Cluster.of("cb", b.backend());
    HttpProxy proxy = track(HttpProxy.builder().listen("127.0.0.1", 0)
        .retryPolicy(fastRetries().budget(0, 1).build()) // one retry in flight per cluster
        .route(r -> r.pathPrefix("/a").to(ca)).defaultRoute(cb).start());
    // 503 then a retry that waits: ca's one retry is in flight
    CompletableFuture<HttpResponse<String>> first = http.sendAsync(
        HttpRequest.newBuilder(proxy.uri().resolve("/a1")).build(), HttpResponse.BodyHandlers.ofString());
    Await.until("ca's retry in flight", () -> a.requests.get() == 2);
    assertThat(ca.stats().retriesActive()).isEqualTo(1);
    // ca's budget is spent: the next 503 is not retried
    assertThat(get(proxy, "/a2").statusCode()).isEqualTo(503);
    // cb has its own budget
    CompletableFuture<HttpResponse<String>> other = http.sendAsync(
        HttpRequest.newBuilder(proxy.uri().resolve("/b1")).build(), HttpResponse.BodyHandlers.ofString());
    Await.until("cb's retry in flight", () -> b.requests.get() == 2);
    hold.countDown();
    assertThat(first.get(20, TimeUnit.SECONDS).statusCode()).isEqualTo(200);
    assertThat(other.get(20, TimeUnit.SECONDS).statusCode()).isEqualTo(200);
    HttpProxyStats s = Await.idle(proxy).stats();
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
    Request.Handler handler = (request, response, callback) -> {
      hits.incrementAndGet();
      if (Request.getLocalPort(request) == diesOnPort.get()) { // sends part of its body, then dies
        response.getHeaders().put("Content-Length", 1000);
        response.write(false, ByteBuffer.wrap(new byte[100]), Callback.from(
            () -> callback.failed(new IOException("backend dies mid-body")), callback::failed));
      } else {
        response.write(true, ByteBuffer.wrap("ok".getBytes(StandardCharsets.US_ASCII)), callback);
      }
      return true;
    };
    TestBackend x = track(TestBackend.with("x", handler));
    TestBackend y = track(TestBackend.with("y", handler));
    Cluster cluster = Cluster.builder("c").backends(x.backend(), y.backend()).balancer(Balancer.consistentHash()).build();
    diesOnPort.set(firstPick(cluster) == 0 ? x.port() : y.port());
    HttpProxy proxy = track(HttpProxy.builder().listen("127.0.0.1", 0).retryPolicy(fastRetries().build())
        .defaultRoute(cluster).start());
    boolean cut = false;
    try {
      http.send(HttpRequest.newBuilder(proxy.uri().resolve("/x")).build(), HttpResponse.BodyHandlers.ofString());
    } catch (IOException expected) {
      cut = true; // the client sees the body cut short
    }
    Await.idle(proxy);
    assertThat(cut).isTrue();
    assertThat(hits.get()).isEqualTo(1);
    assertThat(proxy.stats().retries().total()).isZero();
  }

  @Test
  void liveRouteUpdateUnderLoadLosesNoRequest() throws Exception {
    Box oldBox = track(new Box("old", 30_000));
    Box newBox = track(new Box("new", 30_000));
    Cluster oldCluster = Cluster.of("old", oldBox.backend());
    Cluster newCluster = Cluster.of("new", newBox.backend());
    HttpProxy proxy = track(HttpProxy.builder().listen("127.0.0.1", 0)
        .route(r -> r.name("api").pathPrefix("/api/").to(oldCluster)).start());
    ScheduledExecutorService pace = Executors.newSingleThreadScheduledExecutor();
    ConcurrentLinkedQueue<CompletableFuture<HttpResponse<String>>> all = new ConcurrentLinkedQueue<>();
    int total = 1500; // 500 requests/s for 3 s
    CountDownLatch issued = new CountDownLatch(total);
    AtomicInteger n = new AtomicInteger();
    var task = pace.scheduleAtFixedRate(() -> {
      if (n.getAndIncrement() < total) {
        all.add(http.sendAsync(HttpRequest.newBuilder(proxy.uri().resolve("/api/x")).timeout(Duration.ofSeconds(20)).build(),
            HttpResponse.BodyHandlers.ofString()));
        issued.countDown();
      }
    }, 0, 2, TimeUnit.MILLISECONDS);
    try {
      Await.until("half the load issued", () -> n.get() >= total / 2);
      proxy.replaceRoutes(t -> t.route(r -> r.name("api").pathPrefix("/api/").to(newCluster)));
      int afterUpdate = n.get();
      issued.await(30, TimeUnit.SECONDS);
      task.cancel(false);
      int ok = 0;
      int lost = 0;
      int i = 0;
      List<String> tail = new ArrayList<>();
      for (CompletableFuture<HttpResponse<String>> f : all) {
        try {
          HttpResponse<String> r = f.get(20, TimeUnit.SECONDS);
          if (r.statusCode() == 200) {
            ok++;
          } else {
            lost++;
          }
          if (i++ > afterUpdate + 50) {
            tail.add(r.body());
          }
        } catch (Exception e) {
          lost++;
        }
      }
      System.out.printf("live update: %d requests, %d ok, %d lost; old served %d, new served %d%n",
          all.size(), ok, lost, oldBox.requests.get(), newBox.requests.get());
      assertThat(lost).isZero();
      assertThat(ok).isEqualTo(total);
      assertThat(tail).isNotEmpty().containsOnly("new");
      assertThat(oldBox.requests.get()).isPositive();
      assertThat(proxy.routes()).extracting(HttpRoute::clusters).containsExactly(List.of(newCluster));
    } finally {
      pace.shutdownNow();
    }
  }

  @Test
  void closeReportsDrainingWhileRequestsFinish() throws Exception {
    Box b = track(new Box("b", 30_000));
    CountDownLatch hold = new CountDownLatch(1);
    b.hold = hold;
    HttpProxy proxy = HttpProxy.builder().listen("127.0.0.1", 0).drainTimeout(Duration.ofSeconds(10))
        .defaultRoute(Cluster.of("c", b.backend())).start();
    CompletableFuture<HttpResponse<String>> inFlight = http.sendAsync(
        HttpRequest.newBuilder(proxy.uri().resolve("/1")).build(), HttpResponse.BodyHandlers.ofString());
    Await.until("request at the backend", () -> b.requests.get() == 1);
    assertThat(proxy.stats().draining()).isFalse();
    Thread closer = Thread.ofVirtual().start(proxy::close);
    Await.until("draining", () -> proxy.stats().draining());
    assertThat(proxy.stats().total().inFlight()).isEqualTo(1);
    hold.countDown();
    assertThat(inFlight.get(20, TimeUnit.SECONDS).statusCode()).isEqualTo(200);
    closer.join();
    assertThat(proxy.stats().total().inFlight()).isZero();
  }

  @Test
  void retryPolicyValidatesAndBacksOffWithinItsBounds() {
    assertThatThrownBy(() -> RetryPolicy.builder().maxAttempts(0).build())
        .isInstanceOf(IllegalArgumentException.class).hasMessage("maxAttempts: 0 (expected: 1-10)");
    assertThatThrownBy(() -> RetryPolicy.builder().backoff(Duration.ofMillis(10), Duration.ofMillis(1)).build())
        .isInstanceOf(IllegalArgumentException.class).hasMessageStartingWith("backoffMax: PT0.001S");
    assertThatThrownBy(() -> RetryPolicy.builder().retryOnStatus(42).build())
        .isInstanceOf(IllegalArgumentException.class).hasMessage("retryOn status: 42 (expected: 100-599)");
    RetryPolicy p = RetryPolicy.builder().backoff(Duration.ofMillis(10), Duration.ofMillis(50)).build();
    java.util.Random random = new java.util.Random(1);
    for (int i = 0; i < 1000; i++) {
      assertThat(p.backoffNanos(1, random.nextLong())).isBetween(0L, 10_000_000L);
      assertThat(p.backoffNanos(5, random.nextLong())).isBetween(0L, 50_000_000L);
    }
    assertThat(RetryPolicy.none().retries()).isFalse();
    assertThat(p.toBuilder().maxAttempts(2).build().retryOn()).containsExactlyInAnyOrder(502, 503, 504);
  }

  @Test
  void replaceRoutesValidatesTheNewTable() throws Exception {
    Box b = track(new Box("b", 30_000));
    Cluster c = Cluster.of("c", b.backend());
    HttpProxy proxy = track(HttpProxy.builder().listen("127.0.0.1", 0).defaultRoute(c).start());
    assertThatThrownBy(() -> proxy.replaceRoutes(t -> { }))
        .isInstanceOf(IllegalStateException.class).hasMessageStartingWith("no routes");
    assertThatThrownBy(() -> proxy.replaceRoutes(t -> t.route(r -> r.name("x").to(c)).route(r -> r.name("x").to(c))))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("used twice");
    assertThat(get(proxy, "/still").statusCode()).isEqualTo(200); // the old table is untouched
    proxy.close();
    assertThatThrownBy(() -> proxy.replaceRoutes(t -> t.defaultRoute(c))).isInstanceOf(IllegalStateException.class);
  }
}
