package dev.meshlet.examples;

import static org.assertj.core.api.Assertions.assertThat;

import com.sun.net.httpserver.HttpServer;
import dev.meshlet.testkit.Await;
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.zip.GZIPInputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** {@code meshlet l7 --compress}, run in this JVM through {@link Main#run}. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class CliCompressTest {
  private static final String BODY = "a text body that compresses well. ".repeat(500);

  @Test
  void compressGzipsTextForClientsThatAcceptIt() throws Exception {
    HttpServer backend =
        HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
    backend.createContext(
        "/",
        exchange -> {
          byte[] body = BODY.getBytes(StandardCharsets.UTF_8);
          exchange.getResponseHeaders().set("Content-Type", "text/plain");
          exchange.sendResponseHeaders(200, body.length);
          try (OutputStream out = exchange.getResponseBody()) {
            out.write(body);
          }
        });
    backend.start();
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    CountDownLatch stop = new CountDownLatch(1);
    String[] args = {
      "l7",
      "--listen",
      "127.0.0.1:0",
      "--default",
      "127.0.0.1:" + backend.getAddress().getPort(),
      "--compress"
    };
    CompletableFuture<Integer> exit =
        CompletableFuture.supplyAsync(
            () ->
                Main.run(
                    List.of(args),
                    new PrintStream(out, true, StandardCharsets.UTF_8),
                    System.err,
                    stop),
            task -> Thread.ofPlatform().name("cli-l7").start(task));
    try (HttpClient http = HttpClient.newHttpClient()) {
      Matcher m =
          Await.value(
              "the listening line",
              () -> CliSupport.LISTENING.matcher(out.toString(StandardCharsets.UTF_8)),
              x -> x.find() || exit.isDone());
      assertThat(exit).as("still running").isNotDone();
      HttpResponse<InputStream> r =
          http.send(
              HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + m.group(2) + "/"))
                  .header("Accept-Encoding", "gzip")
                  .build(),
              HttpResponse.BodyHandlers.ofInputStream());
      assertThat(r.headers().firstValue("Content-Encoding")).hasValue("gzip");
      try (InputStream in = new GZIPInputStream(r.body())) {
        assertThat(new String(in.readAllBytes(), StandardCharsets.UTF_8)).isEqualTo(BODY);
      }
    } finally {
      stop.countDown();
      backend.stop(0);
    }
    assertThat(exit.get(30, TimeUnit.SECONDS)).isZero();
  }
}
