package dev.meshlet.examples;

import static org.assertj.core.api.Assertions.assertThat;

import dev.meshlet.testkit.Resources;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.http.HttpClient;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AutoClose;

/**
 * Starts {@code java -jar meshlet.jar} as a process, and backends for it; closed after each test.
 */
abstract class CliSupport {
  static final Path JAR = Path.of("target", "meshlet.jar");

  static final Pattern LISTENING = Pattern.compile("listening on ([0-9.]+):(\\d+)");

  @AutoClose final Resources resources = new Resources();
  final HttpClient http = HttpClient.newHttpClient();

  /** A started {@code java -jar meshlet.jar …} with its output collected line by line. */
  final class Jar implements AutoCloseable {
    final Process process;
    final BlockingQueue<String> stdout = new LinkedBlockingQueue<>();
    final StringBuffer stderr = new StringBuffer();
    private final Thread outPump;
    private final Thread errPump;

    Jar(String... args) throws Exception {
      assertThat(JAR).as("the runnable jar (built by package)").exists();
      List<String> command =
          new ArrayList<>(
              List.of(
                  ProcessHandle.current().info().command().orElse("java"), "-jar", JAR.toString()));
      command.addAll(List.of(args));
      process = new ProcessBuilder(command).start();
      outPump =
          Thread.ofVirtual()
              .start(
                  () ->
                      pump(
                          new BufferedReader(
                              new InputStreamReader(
                                  process.getInputStream(), StandardCharsets.UTF_8)),
                          true));
      errPump =
          Thread.ofVirtual()
              .start(
                  () ->
                      pump(
                          new BufferedReader(
                              new InputStreamReader(
                                  process.getErrorStream(), StandardCharsets.UTF_8)),
                          false));
      resources.track(this);
    }

    private void pump(BufferedReader r, boolean out) {
      try (r) {
        for (String line; (line = r.readLine()) != null; ) {
          if (out) {
            stdout.add(line);
          } else {
            stderr.append(line).append('\n');
          }
        }
      } catch (Exception ignored) {
        // the process ended
      }
    }

    /** Waits for the line that says where the proxy listens and returns its port. */
    int awaitListening() throws Exception {
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
      while (System.nanoTime() < deadline) {
        String line = stdout.poll(100, TimeUnit.MILLISECONDS);
        if (line != null) {
          Matcher m = LISTENING.matcher(line);
          if (m.find()) {
            return Integer.parseInt(m.group(2));
          }
        }
        if (!process.isAlive()) {
          throw new AssertionError(
              "exited " + process.exitValue() + " before listening: " + stderr);
        }
      }
      throw new AssertionError("no 'listening on' line within 30 s; stderr: " + stderr);
    }

    /** Waits for a line of standard output containing {@code text}, and returns it. */
    String awaitLine(String text) throws Exception {
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
      while (System.nanoTime() < deadline) {
        String line = stdout.poll(100, TimeUnit.MILLISECONDS);
        if (line != null && line.contains(text)) {
          return line;
        }
      }
      throw new AssertionError("no line with '" + text + "' within 30 s; stderr: " + stderr);
    }

    int exitCode(Duration within) throws Exception {
      assertThat(process.waitFor(within.toMillis(), TimeUnit.MILLISECONDS))
          .as("exited within " + within)
          .isTrue();
      // the pumps reach the end of the output soon after the exit: then stdout and stderr are whole
      assertThat(outPump.join(Duration.ofSeconds(10)) && errPump.join(Duration.ofSeconds(10)))
          .as("output read to its end")
          .isTrue();
      return process.exitValue();
    }

    @Override
    public void close() {
      process.destroyForcibly();
    }
  }

  NamedBackend backend(String name) throws Exception {
    NamedBackend b = NamedBackend.start(name);
    resources.track(b);
    return b;
  }
}
