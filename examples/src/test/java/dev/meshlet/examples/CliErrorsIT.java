package dev.meshlet.examples;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The runnable jar's usage, its exit codes and messages for bad input, and its packaging. */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class CliErrorsIT extends CliSupport {
  @Test
  void badFlagsExitTwoWithTheReasonAndUsage() throws Exception {
    String[][] cases = {
      {"l4", "--listen", "127.0.0.1:0"},
      {"l4", "--listen", "127.0.0.1:0", "--backend", "nope"},
      {"l4", "--listen", "127.0.0.1:0", "--backend", "127.0.0.1:1", "--balancer", "fastest"},
      {"l7", "--listen", "127.0.0.1:0", "--route", "api=127.0.0.1:1"},
      {"l7", "--listen", "127.0.0.1:0", "--default", "127.0.0.1:1", "--frobnicate", "1"},
      {"l7", "--listen", "127.0.0.1:0", "--default", "127.0.0.1:1", "--acess-log"},
      {"l7", "--listen", "127.0.0.1:0", "--default", "127.0.0.1:1", "--response-timeout"},
      {"l7", "--listen", "256.1.1.1:0", "--default", "127.0.0.1:1"},
      {"l4", "--listen", "256.1.1.1:0", "--backend", "127.0.0.1:1"},
      {"bogus"},
      {"l4", "--listen", "nonsense", "--backend", "127.0.0.1:1"},
      {"l4", "--listen", "127.0.0.1:0", "--bakend", "127.0.0.1:1"},
      {"--listen", ":0", "--default", "127.0.0.1:1"},
    };
    String[] reasons = {
      "give at least one --backend",
      "backend 'nope'",
      "--balancer 'fastest'",
      "must start with /",
      "unknown flag --frobnicate",
      "unknown flag --acess-log",
      "--response-timeout: missing value",
      "listen host '256.1.1.1': unknown host",
      "listen host '256.1.1.1': unknown host",
      "unknown mode 'bogus'",
      "--listen 'nonsense': expected HOST:PORT (or PORT)",
      "unknown flag --bakend",
      "'--listen' needs a mode first (expected: l4, l7, toxiproxy, demo or sidecars",
    };
    for (int i = 0; i < cases.length; i++) {
      Jar jar = new Jar(cases[i]);
      assertThat(jar.exitCode(Duration.ofSeconds(30))).as(String.join(" ", cases[i])).isEqualTo(2);
      assertThat(jar.stderr.toString()).contains(reasons[i]).contains("usage:");
    }
  }

  @Test
  void helpPrintsUsage() throws Exception {
    Jar jar = new Jar("--help");
    assertThat(jar.exitCode(Duration.ofSeconds(30))).isZero();
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
    String first = null;
    while (first == null && System.nanoTime() < deadline) {
      first = jar.stdout.poll(100, TimeUnit.MILLISECONDS);
    }
    assertThat(first).isEqualTo("usage:");
    StringBuilder usage = new StringBuilder(first).append('\n');
    for (String line; (line = jar.stdout.poll()) != null; ) {
      usage.append(line).append('\n');
    }
    // the defaults the builders document (the drain timeout is the command line's own, 10 s)
    assertThat(usage.toString())
        .contains("[--connect-timeout 5s]")
        .contains("[--idle-timeout 1h]")
        .contains("[--max-connections 10000]")
        .contains("[--drain-timeout 10s]")
        .contains("[--response-timeout 15s]")
        .contains("[--balancer round-robin]")
        .contains("--defer-resolution");
  }

  @Test
  void unresolvableBackendExitsTwoNamingIt() throws Exception {
    // RFC 6761: names under .invalid never resolve, with or without a network
    String[][] cases = {
      {"l4", "--listen", "127.0.0.1:0", "--backend", "nothing.invalid:80"},
      {"l7", "--listen", "127.0.0.1:0", "--default", "nothing.invalid:80"},
      {"l7", "--listen", "127.0.0.1:0", "--route", "/a/=127.0.0.1:1,nothing.invalid:80"},
    };
    for (String[] args : cases) {
      Jar jar = new Jar(args);
      assertThat(jar.exitCode(Duration.ofSeconds(30))).as(String.join(" ", args)).isEqualTo(2);
      assertThat(jar.stderr.toString())
          .contains("backend 'nothing.invalid:80': host 'nothing.invalid' does not resolve")
          .contains("--defer-resolution")
          .contains("usage:");
    }
  }

  @Test
  void deferResolutionStartsWithAnUnresolvableBackend() throws Exception {
    Jar l4 =
        new Jar(
            "l4",
            "--listen",
            "127.0.0.1:0",
            "--backend",
            "nothing.invalid:80",
            "--defer-resolution");
    l4.awaitListening();
    Jar l7 =
        new Jar(
            "l7",
            "--listen",
            "127.0.0.1:0",
            "--default",
            "nothing.invalid:80",
            "--defer-resolution");
    int port = l7.awaitListening();
    HttpResponse<String> r =
        http.send(
            HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/"))
                .timeout(Duration.ofSeconds(30))
                .build(),
            HttpResponse.BodyHandlers.ofString());
    assertThat(r.statusCode()).isEqualTo(502);
    l4.process.destroy();
    l7.process.destroy();
    assertThat(l4.exitCode(Duration.ofSeconds(15))).isZero();
    assertThat(l7.exitCode(Duration.ofSeconds(15))).isZero();
  }

  @Test
  void portInUseSaysSoAndExitsOne() throws Exception {
    try (ServerSocket taken = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      Jar jar =
          new Jar(
              "l4", "--listen", "127.0.0.1:" + taken.getLocalPort(), "--backend", "127.0.0.1:1");
      assertThat(jar.exitCode(Duration.ofSeconds(30))).isEqualTo(1);
      assertThat(jar.stderr.toString())
          .contains("127.0.0.1:" + taken.getLocalPort())
          .contains("address already in use")
          .doesNotContain("Address already in use"); // said once, not twice
      Jar demo = new Jar("--http-port", String.valueOf(taken.getLocalPort()), "--tcp-port", "0");
      assertThat(demo.exitCode(Duration.ofSeconds(30))).isEqualTo(1);
      assertThat(demo.stderr.toString())
          .contains("127.0.0.1:" + taken.getLocalPort())
          .contains("address already in use")
          .contains("--http-port");
    }
  }

  @Test
  void versionComesFromTheJarsManifest() throws Exception {
    Jar jar = new Jar("--version");
    assertThat(jar.exitCode(Duration.ofSeconds(30))).isZero();
    assertThat(jar.stdout.poll(10, TimeUnit.SECONDS)).matches("meshlet \\d+\\.\\d+\\.\\d+.*");
  }

  @Test
  void flagsTakeEqualsSignsAndListenTakesColonPort() throws Exception {
    Jar jar = new Jar("l4", "--listen=:0", "--backend=127.0.0.1:1", "--connect-timeout=500ms");
    assertThat(jar.awaitListening()).isPositive();
    jar.process.destroy();
    assertThat(jar.exitCode(Duration.ofSeconds(15))).isZero();
  }

  @Test
  void jarIsSelfContained() throws Exception {
    assertThat(Files.size(JAR)).isGreaterThan(1_000_000); // Jetty and meshlet inside
  }
}
