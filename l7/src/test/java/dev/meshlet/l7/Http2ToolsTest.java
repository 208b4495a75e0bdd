package dev.meshlet.l7;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.meshlet.core.Cluster;
import dev.meshlet.testkit.Await;
import dev.meshlet.testkit.NoLeakedThreads;
import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Real HTTP/2 tools against the h2c port: nghttp2's {@code h2load} and {@code curl}, each skipped
 * when it is not on the PATH (Debian: {@code nghttp2-client}, {@code curl}).
 */
@ExtendWith(NoLeakedThreads.class)
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class Http2ToolsTest {
  private static boolean onPath(String tool) {
    String path = System.getenv("PATH");
    if (path == null) {
      return false;
    }
    for (String dir : path.split(File.pathSeparator)) {
      if (new File(dir, tool).canExecute()) {
        return true;
      }
    }
    return false;
  }

  /** Runs {@code command} to its end (within 60 s) and returns what it printed, both streams. */
  private static String run(List<String> command) throws IOException, InterruptedException {
    Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
    if (!p.waitFor(60, TimeUnit.SECONDS)) {
      p.destroyForcibly();
      throw new AssertionError(command + " did not end within 60 s");
    }
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(p.exitValue()).as(command + " exit code; output:\n" + out).isZero();
    return out;
  }

  private static HttpProxy proxy(H2Backend b) throws IOException {
    Cluster c = Cluster.of("c", b.backend());
    return HttpProxy.builder()
        .listen("127.0.0.1", 0)
        .h2c(true)
        .upstreamProtocol(c, UpstreamProtocol.H2C)
        .defaultRoute(c)
        .start();
  }

  @Test
  void h2loadGetsOnly2xxThroughTheH2cPort() throws Exception {
    assumeTrue(onPath("h2load"), "h2load is not installed (Debian: nghttp2-client)");
    try (H2Backend b = H2Backend.h2c("b", Http2Test::handle);
        HttpProxy p = proxy(b)) {
      String out =
          run(
              List.of(
                  "h2load",
                  "-c",
                  "4",
                  "-m",
                  "10",
                  "-n",
                  "2000",
                  p.uri().resolve("/load").toString()));
      // the throughput line, for whoever reads the test's output
      out.lines().filter(l -> l.startsWith("finished in")).forEach(System.out::println);
      Matcher done =
          Pattern.compile("requests: 2000 total, 2000 started, 2000 done, (\\d+) succeeded")
              .matcher(out);
      assertThat(done.find()).as(out).isTrue();
      assertThat(done.group(1)).as(out).isEqualTo("2000");
      assertThat(out).as(out).contains("status codes: 2000 2xx, 0 3xx, 0 4xx, 0 5xx");
      Await.until("2000 2xx counted", () -> p.stats().total().status2xx() == 2000);
      assertThat(p.stats().total().errors(HttpProxyStats.ErrorKind.H2_FLOOD)).isZero();
    }
  }

  @Test
  void curlSpeaksH2cByPriorKnowledgeAndByUpgrade() throws Exception {
    assumeTrue(onPath("curl"), "curl is not installed");
    String features = run(List.of("curl", "--version"));
    assumeTrue(features.contains("HTTP2"), "this curl has no HTTP/2");
    try (H2Backend b = H2Backend.h2c("b", Http2Test::handle);
        HttpProxy p = proxy(b)) {
      String url = p.uri().resolve("/c").toString();
      String format = "%{http_code} %{http_version}";
      assertThat(
              run(
                  List.of(
                      "curl",
                      "-sS",
                      "--http2-prior-knowledge",
                      "-o",
                      "/dev/null",
                      "-w",
                      format,
                      url)))
          .isEqualTo("200 2");
      assertThat(run(List.of("curl", "-sS", "--http2", "-o", "/dev/null", "-w", format, url)))
          .isEqualTo("200 2");
      assertThat(b.last().protocol()).isEqualTo("HTTP/2.0");
    }
  }
}
