package dev.meshlet.l7;

import static org.assertj.core.api.Assertions.assertThat;

import dev.meshlet.core.Cluster;
import dev.meshlet.testkit.Await;
import dev.meshlet.testkit.NoLeakedThreads;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;
import org.eclipse.jetty.logging.JettyLogger;
import org.eclipse.jetty.logging.StdErrAppender;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;
import org.slf4j.LoggerFactory;

@ExtendWith(NoLeakedThreads.class)
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class AccessLogTest {

  @Test
  void oneLinePerRequestWithMethodPathStatusRouteBackendDurationsAndBytes() throws Exception {
    JettyLogger logger = (JettyLogger) LoggerFactory.getLogger("dev.meshlet.l7.access");
    StdErrAppender appender = (StdErrAppender) logger.getAppender();
    PrintStream original = appender.getStream();
    ByteArrayOutputStream captured = new ByteArrayOutputStream();
    appender.setStream(new PrintStream(captured, true, StandardCharsets.UTF_8));
    try (TestBackend b = TestBackend.named("logged");
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
              "POST /api/x\\?y=1 200 route=api backend=logged upstream_us=\\d+ total_us=\\d+ in=5 out=6");
      assertThat(log)
          .containsPattern(
              "GET /none 404 route=- backend=- upstream_us=-1 total_us=\\d+ in=0 out=0 error=NO_ROUTE");
    } finally {
      appender.setStream(original);
    }
  }
}
