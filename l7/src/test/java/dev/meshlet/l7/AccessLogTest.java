package dev.meshlet.l7;

import static org.assertj.core.api.Assertions.assertThat;

import dev.meshlet.core.Cluster;
import dev.meshlet.testkit.Await;
import dev.meshlet.testkit.NoLeakedThreads;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.eclipse.jetty.logging.JettyLogger;
import org.eclipse.jetty.logging.StdErrAppender;
import org.eclipse.jetty.util.ajax.JSON;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;
import org.slf4j.LoggerFactory;

@ExtendWith(NoLeakedThreads.class)
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class AccessLogTest {

  /** Sends the access logger's output to {@code out} until closed, then puts the stream back. */
  private static AutoCloseable accessLogTo(OutputStream out) {
    StdErrAppender appender =
        (StdErrAppender)
            ((JettyLogger) LoggerFactory.getLogger("dev.meshlet.l7.access")).getAppender();
    PrintStream original = appender.getStream();
    appender.setStream(new PrintStream(out, true, StandardCharsets.UTF_8));
    return () -> appender.setStream(original);
  }

  @Test
  void oneLinePerRequestWithMethodPathStatusRouteBackendDurationsAndBytes() throws Exception {
    ByteArrayOutputStream captured = new ByteArrayOutputStream();
    try (AutoCloseable redirected = accessLogTo(captured);
        TestBackend b = TestBackend.named("logged");
        HttpProxy proxy =
            HttpProxy.builder()
                .listen("127.0.0.1", 0)
                .accessLog(true)
                .route(r -> r.name("api").pathPrefix("/api/").to(Cluster.of("logged", b.backend())))
                .start();
        HttpClient http = HttpClient.newHttpClient()) {
      http.send(
          HttpRequest.newBuilder(proxy.uri().resolve("/api/x?y=1"))
              .POST(HttpRequest.BodyPublishers.ofString("12345"))
              .build(),
          HttpResponse.BodyHandlers.ofString());
      http.send(
          HttpRequest.newBuilder(proxy.uri().resolve("/none")).build(),
          HttpResponse.BodyHandlers.ofString());
      Await.until(
          "two access log lines",
          () -> captured.toString(StandardCharsets.UTF_8).lines().count() >= 2);
      String log = captured.toString(StandardCharsets.UTF_8);
      assertThat(log)
          .containsPattern(
              "POST /api/x\\?y=1 200 route=api cluster=logged backend=logged upstream_us=\\d+"
                  + " total_us=\\d+ in=5 out=6 tries=1 client=127.0.0.1 request_id=[0-9a-f]{32}"
                  + " trace_id=-\n");
      assertThat(log)
          .containsPattern(
              "GET /none 404 route=- cluster=- backend=- upstream_us=-1 total_us=\\d+ in=0 out=0"
                  + " tries=0 client=127.0.0.1 request_id=- trace_id=- error=NO_ROUTE");
    }
  }

  @Test
  void aClientsRequestIdCannotForgeTextFields() {
    assertThat(AccessLogWriter.token("a b\"c=%")).isEqualTo("a%20b%22c%3D%25");
    assertThat(AccessLogWriter.token("x status=200")).isEqualTo("x%20status%3D200");
    assertThat(AccessLogWriter.token("plain-id")).isEqualTo("plain-id");
  }

  @Test
  void jsonLinesCarryTheSameFields() throws Exception {
    ByteArrayOutputStream captured = new ByteArrayOutputStream();
    try (AutoCloseable redirected = accessLogTo(captured);
        TestBackend b = TestBackend.named("logged");
        HttpProxy proxy =
            HttpProxy.builder()
                .listen("127.0.0.1", 0)
                .accessLog(AccessLog.json())
                .route(r -> r.name("api").pathPrefix("/api/").to(Cluster.of("pool", b.backend())))
                .start();
        HttpClient http = HttpClient.newHttpClient()) {
      http.send(
          HttpRequest.newBuilder(proxy.uri().resolve("/api/q?a=%22b%22"))
              .header("traceparent", TraceContextTest.VALID)
              .header("X-Request-ID", "id \"1\" \\")
              .build(),
          HttpResponse.BodyHandlers.ofString());
      Await.until(
          "an access log line", () -> captured.toString(StandardCharsets.UTF_8).contains("{"));
      String line = captured.toString(StandardCharsets.UTF_8).lines().findFirst().orElseThrow();
      @SuppressWarnings("unchecked")
      Map<String, Object> json =
          (Map<String, Object>) new JSON().fromJSON(line.substring(line.indexOf('{')));
      assertThat(json)
          .containsEntry("method", "GET")
          .containsEntry("path", "/api/q?a=%22b%22")
          .containsEntry("status", 200L)
          .containsEntry("route", "api")
          .containsEntry("cluster", "pool")
          .containsEntry("backend", "logged")
          .containsEntry("tries", 1L)
          .containsEntry("request_id", "id \"1\" \\")
          .containsEntry("trace_id", "4bf92f3577b34da6a3ce929d0e0e4736")
          .containsEntry("client", "127.0.0.1")
          .containsEntry("error", null)
          .containsKeys("start_time", "upstream_us", "total_us", "bytes_in", "bytes_out", "faults");
    }
  }

  @Test
  void aStalledAppenderDropsLinesCountedAndTheLogResumes() throws Exception {
    CountDownLatch release = new CountDownLatch(1);
    CountDownLatch writing = new CountDownLatch(1);
    ByteArrayOutputStream captured = new ByteArrayOutputStream();
    OutputStream stalled =
        new OutputStream() {
          @Override
          public void write(int b) throws IOException {
            write(new byte[] {(byte) b}, 0, 1);
          }

          @Override
          public void write(byte[] b, int off, int len) throws IOException {
            writing.countDown();
            try {
              release.await(20, TimeUnit.SECONDS); // a disk that stopped answering
            } catch (InterruptedException e) {
              throw new IOException(e);
            }
            synchronized (captured) {
              captured.write(b, off, len);
            }
          }
        };
    try (AutoCloseable redirected = accessLogTo(stalled);
        TestBackend b = TestBackend.named("logged");
        HttpProxy proxy =
            HttpProxy.builder()
                .listen("127.0.0.1", 0)
                .accessLog(AccessLog.text().withQueueSize(2))
                .defaultRoute(Cluster.of("pool", b.backend()))
                .start();
        HttpClient http = HttpClient.newHttpClient()) {
      for (int i = 0; i < 10; i++) { // one line is being written, two wait, the rest are dropped
        assertThat(
                http.send(
                        HttpRequest.newBuilder(proxy.uri().resolve("/n" + i)).build(),
                        HttpResponse.BodyHandlers.ofString())
                    .statusCode())
            .isEqualTo(200);
        if (i == 0) { // the writer holds the first line; so the count below is exact
          assertThat(writing.await(10, TimeUnit.SECONDS)).isTrue();
        }
      }
      Await.until("drops counted", () -> proxy.stats().accessLogDropped() >= 7);
      assertThat(proxy.stats().accessLogDropped()).isEqualTo(7);
      release.countDown();
      Await.until(
          "the lines held through the stall",
          () -> {
            synchronized (captured) {
              return captured.toString(StandardCharsets.UTF_8).contains("GET /n2 200");
            }
          });
      http.send(
          HttpRequest.newBuilder(proxy.uri().resolve("/after")).build(),
          HttpResponse.BodyHandlers.ofString());
      Await.until(
          "the line of a request after the stall",
          () -> {
            synchronized (captured) {
              return captured.toString(StandardCharsets.UTF_8).contains("GET /after 200");
            }
          });
      assertThat(proxy.stats().accessLogDropped()).isEqualTo(7);
    } finally {
      release.countDown();
    }
  }
}
