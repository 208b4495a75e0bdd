package dev.meshlet.l7;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.io.Writer;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.function.Predicate;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A proxy out of file descriptors recovers, answers 503 for what it cannot connect, and logs once.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class DescriptorLimitTest {
  private static final String GET = "GET /fd HTTP/1.1\r\nHost: h\r\n\r\n";

  @TempDir Path dir;
  private TestBackend backend;
  private Process child;
  private BufferedReader childOut;
  private Writer childIn;
  private Path childErr;

  @BeforeEach
  void start() throws Exception {
    backend = TestBackend.named("b");
    childErr = dir.resolve("child.err");
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    String classPath = System.getProperty("java.class.path");
    ProcessBuilder pb =
        new ProcessBuilder(
            "bash",
            "-c",
            "ulimit -n 256 && exec \"$0\" -Xmx64m -cp \"$1\" "
                + LowFdProxy.class.getName()
                + " \"$2\"",
            java,
            classPath,
            String.valueOf(backend.port()));
    pb.redirectError(childErr.toFile());
    child = pb.start();
    childOut =
        new BufferedReader(new InputStreamReader(child.getInputStream(), StandardCharsets.UTF_8));
    childIn = new OutputStreamWriter(child.getOutputStream(), StandardCharsets.UTF_8);
  }

  @AfterEach
  void stop() throws Exception {
    try {
      childIn.write("quit\n");
      childIn.flush();
    } catch (IOException gone) {
      // the child died: its exit is checked below
    }
    if (!child.waitFor(20, TimeUnit.SECONDS)) {
      child.destroyForcibly();
    }
    backend.close();
  }

  @Test
  void outOfDescriptorsAcceptingRecoversAndUpstreamGets503LoggedOncePerEpisode() throws Exception {
    int port = Integer.parseInt(reply("PORT ").substring(5));

    // no socket to the backend can be opened: the client gets 503, not 500 or 502
    try (Socket c = new Socket("127.0.0.1", port)) {
      c.setSoTimeout(20_000);
      awaitChild(
          "the client connection accepted", "conns", r -> Integer.parseInt(r.substring(6)) >= 1);
      assertThat(command("hog")).startsWith("HOGGED ");
      for (int i = 0; i < 3; i++) {
        c.getOutputStream().write(GET.getBytes(StandardCharsets.US_ASCII));
        String answer = Raw.readResponses(c.getInputStream(), 1);
        assertThat(answer)
            .as("request %d; child log:\n%s", i, Files.readString(childErr))
            .startsWith("HTTP/1.1 503")
            .contains("out of file descriptors");
      }
      assertThat(command("free")).isEqualTo("FREED");
      c.getOutputStream().write(GET.getBytes(StandardCharsets.US_ASCII));
      assertThat(Raw.readResponses(c.getInputStream(), 1)).startsWith("HTTP/1.1 200");
    }
    assertThat(command("stats")).endsWith(" 3");

    // a flood of more connections than descriptors; then a normal request within 1 s of it closing
    List<Socket> flood = new ArrayList<>();
    long floodStart = System.nanoTime();
    try {
      for (int i = 0; i < 400; i++) {
        flood.add(new Socket("127.0.0.1", port)); // the kernel completes them into the backlog
      }
      awaitChild("an accept failure", "stats", r -> Long.parseLong(r.split(" ")[1]) >= 1);
      LockSupport.parkNanos(
          TimeUnit.SECONDS.toNanos(1)); // the flood holds a while: the acceptor backs off
    } finally {
      for (Socket s : flood) {
        s.close();
      }
    }
    long closed = System.nanoTime();
    Duration held = Duration.ofNanos(closed - floodStart);
    try (Socket s = new Socket("127.0.0.1", port)) {
      s.setSoTimeout(20_000);
      s.getOutputStream()
          .write(
              "GET /after HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"
                  .getBytes(StandardCharsets.US_ASCII));
      assertThat(Raw.parse(Raw.readAll(s.getInputStream())).status()).isEqualTo(200);
    }
    assertThat(Duration.ofNanos(System.nanoTime() - closed))
        .as("a request after the flood closed")
        .isLessThan(Duration.ofSeconds(1));

    long episodes = Long.parseLong(command("stats").split(" ")[1]);
    String log = Files.readString(childErr);
    assertThat(log)
        .as("Jetty's own per-failure warning with its stack trace")
        .doesNotContain("Accept Failure");
    assertThat(count(log, "accepting client connections failed"))
        .as(log)
        .isEqualTo(episodes)
        .isBetween(1L, 3L);
    assertThat(count(log, "opening sockets to backends failed")).as(log).isEqualTo(1);
    assertThat(log).contains("opening sockets to backends works again after 3 failures");
    Matcher m =
        Pattern.compile("accepting client connections works again after (\\d+) failures")
            .matcher(log);
    long retries = 0;
    while (m.find()) {
      retries += Long.parseLong(m.group(1));
    }
    // backing off 10 ms to 200 ms: a few tries per second held, where a busy loop makes thousands
    assertThat(retries)
        .as("accept retries while out of descriptors for " + held + "\n" + log)
        .isBetween(1L, 20 + held.toMillis() / 20);
  }

  private static long count(String text, String what) {
    long n = 0;
    for (int at = text.indexOf(what); at >= 0; at = text.indexOf(what, at + 1)) {
      n++;
    }
    return n;
  }

  private String command(String c) throws IOException {
    childIn.write(c + "\n");
    childIn.flush();
    return reply("");
  }

  private String reply(String prefix) throws IOException {
    String line = childOut.readLine();
    if (line == null || !line.startsWith(prefix)) {
      throw new AssertionError("child said " + line + "; its log:\n" + Files.readString(childErr));
    }
    return line;
  }

  private void awaitChild(String what, String c, Predicate<String> done) throws IOException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
    while (!done.test(command(c))) {
      if (System.nanoTime() > deadline) {
        throw new AssertionError(
            "timed out waiting for " + what + "; child log:\n" + Files.readString(childErr));
      }
    }
  }
}
