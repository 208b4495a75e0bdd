package dev.meshlet.junit;

import static org.assertj.core.api.Assertions.assertThat;

import com.sun.net.httpserver.HttpServer;
import dev.meshlet.core.Backend;
import dev.meshlet.core.Cluster;
import dev.meshlet.l7.HttpEvent;
import dev.meshlet.l7.HttpFault;
import dev.meshlet.l7.HttpProxy;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The HTTP extension as a user would write it: a checkout client that retries a 503 once, against a
 * gateway whose payment route fails when the test asks for it.
 */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class CheckoutGatewayTest {
  static final HttpServer payments = paymentService();
  static final HttpClient http =
      HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();

  @RegisterExtension
  static final HttpProxyExtension gateway =
      HttpProxyExtension.create(
          () ->
              HttpProxy.builder()
                  .listen("127.0.0.1", 0)
                  .seed(7)
                  .route(
                      r ->
                          r.name("payments")
                              .pathPrefix("/pay")
                              .to(
                                  Cluster.of(
                                      "payments",
                                      Backend.of("127.0.0.1", payments.getAddress().getPort())))
                              .fault(HttpFault.abort(503).whenHeader("x-chaos"))));

  static HttpServer paymentService() {
    try {
      HttpServer s =
          HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
      s.createContext(
          "/pay",
          exchange -> {
            byte[] body = "paid".getBytes(StandardCharsets.US_ASCII);
            exchange.sendResponseHeaders(200, body.length);
            exchange.getResponseBody().write(body);
            exchange.close();
          });
      s.setExecutor(Executors.newVirtualThreadPerTaskExecutor());
      s.start();
      return s;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  @AfterAll
  static void stop() {
    http.close();
    payments.stop(0);
  }

  /** The code under test: one retry on 503. */
  static int checkout(URI gateway, boolean chaos) throws Exception {
    HttpRequest.Builder b = HttpRequest.newBuilder(gateway.resolve("/pay"));
    if (chaos) {
      b.header("x-chaos", "1");
    }
    HttpRequest request = b.build();
    int status = http.send(request, HttpResponse.BodyHandlers.discarding()).statusCode();
    if (status == 503) {
      status = http.send(request, HttpResponse.BodyHandlers.discarding()).statusCode();
    }
    return status;
  }

  @Test
  void paysThroughTheGateway(@MeshletProxy int port) throws Exception {
    assertThat(checkout(URI.create("http://127.0.0.1:" + port + "/"), false)).isEqualTo(200);
    // the proxy records an exchange once its last write completed, which may be just after the
    // client saw it
    HttpEvent.Completed done =
        gateway.journal().await(HttpEvent.Completed.class, c -> true, Duration.ofSeconds(5));
    assertThat(done.route()).isEqualTo("payments");
    assertThat(done.backend()).isNotNull();
    assertThat(done.faults()).isEmpty();
  }

  @Test
  void retriesOnceWhenThePaymentRouteAnswers503(HttpProxy proxy) throws Exception {
    assertThat(checkout(proxy.uri(), true)).isEqualTo(503);
    assertThat(gateway.journal().awaitCount(HttpEvent.Completed.class, 2, Duration.ofSeconds(5)))
        .extracting(HttpEvent.Completed::status)
        .containsExactly(503, 503);
    assertThat(gateway.journal().entries(HttpEvent.FaultApplied.class)).hasSize(2);
  }

  @Test
  void theJournalStartsEmptyForEachTest() {
    assertThat(gateway.journal().entries()).isEmpty();
    assertThat(gateway.proxy().journal().recorded()).isZero();
  }
}
