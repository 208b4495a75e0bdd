package dev.meshlet.junit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.platform.engine.discovery.DiscoverySelectors.selectClass;

import com.sun.net.httpserver.HttpServer;
import dev.meshlet.core.Backend;
import dev.meshlet.core.Cluster;
import dev.meshlet.core.Schedule;
import dev.meshlet.l7.HttpEvent;
import dev.meshlet.l7.HttpFault;
import dev.meshlet.l7.HttpProxy;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ParameterResolutionException;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.platform.engine.TestExecutionResult;
import org.junit.platform.testkit.engine.EngineTestKit;
import org.junit.platform.testkit.engine.Events;

/** The HTTP extension's lifecycle, run on small example classes through JUnit's test kit. */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class HttpProxyExtensionTest {
  static HttpServer backend;
  static final HttpClient http =
      HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();

  @BeforeAll
  static void startBackend() throws IOException {
    backend = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
    backend.createContext(
        "/",
        exchange -> {
          exchange.sendResponseHeaders(200, -1);
          exchange.close();
        });
    backend.start();
  }

  @AfterAll
  static void stopBackend() {
    http.close();
    backend.stop(0);
  }

  static Cluster payments() {
    return Cluster.of("payments", Backend.of("127.0.0.1", backend.getAddress().getPort()));
  }

  static int status(HttpProxy proxy) {
    try {
      return http.send(
              HttpRequest.newBuilder(proxy.uri().resolve("/pay")).build(),
              HttpResponse.BodyHandlers.discarding())
          .statusCode();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new AssertionError(e);
    }
  }

  private static Events run(Class<?> example) {
    return EngineTestKit.engine("junit-jupiter")
        .selectors(selectClass(example))
        .execute()
        .testEvents();
  }

  private static Throwable firstFailure(Events events) {
    return events
        .failed()
        .list()
        .get(0)
        .getPayload(TestExecutionResult.class)
        .orElseThrow()
        .getThrowable()
        .orElseThrow();
  }

  @TestMethodOrder(MethodOrderer.OrderAnnotation.class)
  static class ResetExample {
    @RegisterExtension
    static final HttpProxyExtension gateway =
        HttpProxyExtension.create(
            () ->
                HttpProxy.builder()
                    .listen("127.0.0.1", 0)
                    .seed(0xCAFEL)
                    .route(
                        r ->
                            r.name("payments")
                                .to(payments())
                                .fault(HttpFault.abort(503).schedule(Schedule.firstN(1)))));

    @Test
    @Order(1)
    void firstRequestFailsThenTheTestReplacesTheRoutes(HttpProxy proxy) {
      assertThat(status(proxy)).isEqualTo(503);
      assertThat(status(proxy)).isEqualTo(200);
      proxy.replaceRoutes(
          t -> t.route(r -> r.name("payments").to(payments()).fault(HttpFault.abort(418))));
      assertThat(status(proxy)).isEqualTo(418);
    }

    @Test
    @Order(2)
    void theNextTestSeesTheBuiltRoutesWithTheirSchedulesStartedOver(HttpProxy proxy) {
      assertThat(status(proxy)).isEqualTo(503);
      assertThat(status(proxy)).isEqualTo(200);
    }

    @Test
    @Order(3)
    void fails(HttpProxy proxy) {
      status(proxy);
      throw new AssertionError("the client under test misbehaved");
    }
  }

  @Test
  void betweenTestsTheBuiltRoutesAreBackAndAFailureCarriesTheSeed() {
    Events events = run(ResetExample.class);
    events.assertStatistics(s -> s.succeeded(2).failed(1));
    Throwable failure = firstFailure(events);
    assertThat(failure).hasMessage("the client under test misbehaved");
    assertThat(failure.getSuppressed()).hasSize(1);
    assertThat(failure.getSuppressed()[0]).isInstanceOf(HttpProxyExtension.ProxyReport.class);
    assertThat(failure.getSuppressed()[0].getMessage())
        .contains("seed(0xcafeL)")
        .contains("Completed");
  }

  @TestMethodOrder(MethodOrderer.OrderAnnotation.class)
  static class HangingExample {
    @RegisterExtension
    static final HttpProxyExtension gateway =
        HttpProxyExtension.create(
            () ->
                HttpProxy.builder()
                    .listen("127.0.0.1", 0)
                    .route(
                        r ->
                            r.name("payments")
                                .to(payments())
                                .fault(
                                    HttpFault.delay(Duration.ofSeconds(3)).whenHeader("x-slow"))));

    @Test
    @Order(1)
    void theClientGivesUpOnASlowRequest(HttpProxy proxy) {
      var slow =
          http.sendAsync(
              HttpRequest.newBuilder(proxy.uri().resolve("/slow"))
                  .header("x-slow", "1")
                  .timeout(Duration.ofSeconds(1))
                  .build(),
              HttpResponse.BodyHandlers.discarding());
      // the proxy has the request (in this test's journal generation) before the client gives up
      proxy.journal().await(HttpEvent.FaultApplied.class, f -> true, Duration.ofSeconds(10));
      assertThatThrownBy(() -> slow.get(10, TimeUnit.SECONDS))
          .hasCauseInstanceOf(HttpTimeoutException.class);
    }

    @Test
    @Order(2)
    void theNextTestsJournalHoldsOnlyItsOwnRequests(HttpProxy proxy) {
      proxy.awaitIdle(Duration.ofSeconds(10)); // the slow request ends now, during this test
      assertThat(proxy.journal().entries()).isEmpty();
      assertThat(status(proxy)).isEqualTo(200);
      assertThat(proxy.awaitRequests(1, Duration.ofSeconds(5)))
          .singleElement()
          .satisfies(c -> assertThat(c.path()).isEqualTo("/pay"));
    }
  }

  @Test
  void aRequestATestLeftInFlightIsNotJournaledInTheNext() {
    Events events = run(HangingExample.class);
    events.assertStatistics(s -> s.succeeded(2).failed(0));
  }

  static class ParameterExample {
    @RegisterExtension
    static final HttpProxyExtension gateway =
        HttpProxyExtension.create(
            () -> HttpProxy.builder().listen("127.0.0.1", 0).route(r -> r.to(payments())));

    @Test
    void awaitsItsRequests(@MeshletProxy int port) {
      assertThat(port).isEqualTo(gateway.port());
      assertThat(status(gateway.proxy())).isEqualTo(200);
      assertThat(status(gateway.proxy())).isEqualTo(200);
      assertThat(gateway.awaitRequests(2, Duration.ofSeconds(10)))
          .extracting(HttpEvent.Completed::status)
          .containsExactly(200, 200);
    }

    @Test
    void namesAnUnsupportedParameter(@MeshletProxy String proxy) {
      throw new AssertionError("must not run: " + proxy);
    }
  }

  @Test
  void awaitRequestsAndAClearErrorForAnUnsupportedParameter() {
    Events events = run(ParameterExample.class);
    events.assertStatistics(s -> s.succeeded(1).failed(1));
    Throwable failure = firstFailure(events);
    assertThat(failure)
        .isInstanceOf(ParameterResolutionException.class)
        .hasMessageContaining("@MeshletProxy on String parameter")
        .hasMessageContaining("expected int or Integer (the port), TcpProxy or HttpProxy");
  }
}
