package dev.meshlet.examples;

import static org.assertj.core.api.Assertions.assertThat;

import dev.meshlet.testkit.Await;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
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
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** {@code meshlet sidecars}, run in this JVM on free ports. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class SidecarsTest {
  private static final Pattern TRY = Pattern.compile("curl (http://\\S+)\\s+# (\\d{3})");

  @Test
  void theWebSidecarGetsThroughWithItsIdentityAndBatchIsRefused() throws Exception {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    CountDownLatch stop = new CountDownLatch(1);
    CompletableFuture<Integer> exit =
        CompletableFuture.supplyAsync(
            () ->
                Main.run(
                    List.of(
                        "sidecars", "--web-port", "0", "--batch-port", "0", "--inbound-port", "0"),
                    new PrintStream(out, true, StandardCharsets.UTF_8),
                    System.err,
                    stop),
            task -> Thread.ofPlatform().name("sidecars").start(task));
    String printed =
        Await.value(
            "the demo's instructions",
            () -> out.toString(StandardCharsets.UTF_8),
            s -> s.contains("Ctrl-C stops") || exit.isDone());
    Matcher m = TRY.matcher(printed);
    try (HttpClient http = HttpClient.newHttpClient()) {
      int tried = 0;
      while (m.find()) {
        HttpResponse<String> r =
            http.send(
                HttpRequest.newBuilder(URI.create(m.group(1))).build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(r.statusCode()).as(m.group(1)).isEqualTo(Integer.parseInt(m.group(2)));
        if (r.statusCode() == 200) {
          assertThat(r.body())
              .startsWith("orders-app: GET /orders/42")
              .contains("URI=spiffe://cluster.local/ns/default/sa/web");
        }
        tried++;
      }
      assertThat(tried).as("curl lines in\n" + printed).isEqualTo(2);
    }
    stop.countDown();
    assertThat(exit.get(30, TimeUnit.SECONDS)).isZero();
  }
}
