package dev.meshlet.examples;

import static org.assertj.core.api.Assertions.assertThat;

import dev.meshlet.testkit.Await;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import org.eclipse.jetty.http2.server.HTTP2CServerConnectionFactory;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.HttpConfiguration;
import org.eclipse.jetty.server.HttpConnectionFactory;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.util.Callback;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The l7 mode's HTTP/2 flags, run in this JVM through {@link Main#run}. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class CliHttp2Test {

  /** Runs {@code args} to its exit code; stderr goes to {@code err}. */
  private static int exit(ByteArrayOutputStream err, String... args) {
    return Main.run(
        List.of(args),
        new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8),
        new PrintStream(err, true, StandardCharsets.UTF_8),
        new CountDownLatch(0));
  }

  /** A Jetty server on 127.0.0.1:0 speaking h2c and HTTP/1.1, answering its request's protocol. */
  private static Server h2cBackend() throws Exception {
    Server server = new Server();
    HttpConfiguration http = new HttpConfiguration();
    ServerConnector c =
        new ServerConnector(
            server, new HttpConnectionFactory(http), new HTTP2CServerConnectionFactory(http));
    c.setHost("127.0.0.1");
    server.addConnector(c);
    server.setHandler(
        new Handler.Abstract() {
          @Override
          public boolean handle(Request request, Response response, Callback callback) {
            String protocol = request.getConnectionMetaData().getProtocol();
            response.write(
                true, ByteBuffer.wrap(protocol.getBytes(StandardCharsets.UTF_8)), callback);
            return true;
          }
        });
    server.start();
    return server;
  }

  @Test
  void h2cOnBothSidesFromTheCommandLine() throws Exception {
    Server backend = h2cBackend();
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    CountDownLatch stop = new CountDownLatch(1);
    int backendPort = ((ServerConnector) backend.getConnectors()[0]).getLocalPort();
    String[] args = {
      "l7",
      "--listen",
      "127.0.0.1:0",
      "--default",
      "127.0.0.1:" + backendPort,
      "--h2c",
      "--upstream-h2c"
    };
    CompletableFuture<Integer> exit =
        CompletableFuture.supplyAsync(
            () ->
                Main.run(
                    List.of(args),
                    new PrintStream(out, true, StandardCharsets.UTF_8),
                    System.err,
                    stop),
            task -> Thread.ofPlatform().name("cli-h2").start(task));
    try (HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_2).build()) {
      Matcher m =
          Await.value(
              "the listening line",
              () -> CliSupport.LISTENING.matcher(out.toString(StandardCharsets.UTF_8)),
              x -> x.find() || exit.isDone());
      assertThat(out.toString(StandardCharsets.UTF_8)).contains("(h2c)");
      URI uri = URI.create("http://127.0.0.1:" + m.group(2) + "/");
      for (int i = 0; i < 2; i++) { // the first upgrades to h2c, the second rides it
        HttpResponse<String> r =
            http.send(HttpRequest.newBuilder(uri).build(), HttpResponse.BodyHandlers.ofString());
        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.version()).isEqualTo(HttpClient.Version.HTTP_2);
        assertThat(r.body()).isEqualTo("HTTP/2.0"); // the backend was reached in h2c
      }
    } finally {
      stop.countDown();
      assertThat(exit.get(30, TimeUnit.SECONDS)).isZero();
      backend.stop();
    }
  }

  @Test
  void contradictoryUpstreamProtocolFlagsExitTwo() {
    String[][] cases = {
      {"l7", "--listen", "127.0.0.1:0", "--default", "127.0.0.1:1", "--upstream-h2"},
      {
        "l7",
        "--listen",
        "127.0.0.1:0",
        "--default",
        "127.0.0.1:1",
        "--upstream-h2c",
        "--upstream-h2"
      },
    };
    String[] reasons = {"--upstream-h2 needs --upstream-tls", "give one (h2c is clear text)"};
    for (int i = 0; i < cases.length; i++) {
      ByteArrayOutputStream err = new ByteArrayOutputStream();
      assertThat(exit(err, cases[i])).as(String.join(" ", cases[i])).isEqualTo(2);
      assertThat(err.toString(StandardCharsets.UTF_8)).contains(reasons[i]).contains("usage:");
    }
  }
}
