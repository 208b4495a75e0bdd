package dev.meshlet.examples;

import static org.assertj.core.api.Assertions.assertThat;

import dev.meshlet.testkit.EchoServer;
import eu.rekawek.toxiproxy.Proxy;
import eu.rekawek.toxiproxy.ToxiproxyClient;
import eu.rekawek.toxiproxy.model.ToxicDirection;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The jar's {@code --admin} flag and its {@code toxiproxy} mode, as a process. */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class AdminCliIT extends CliSupport {

  /** Waits for the line that starts with {@code prefix} and names a port; returns the port. */
  private static int awaitPort(Jar jar, String prefix) throws Exception {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    while (System.nanoTime() < deadline) {
      String line = jar.stdout.poll(100, TimeUnit.MILLISECONDS);
      if (line != null && line.startsWith(prefix)) {
        Matcher m = LISTENING.matcher(line);
        assertThat(m.find()).as(line).isTrue();
        return Integer.parseInt(m.group(2));
      }
    }
    throw new AssertionError("no line '" + prefix + "...' within 30 s; stderr: " + jar.stderr);
  }

  @Test
  void toxiproxyModeServesTheToxiproxyApi() throws Exception {
    EchoServer echo = resources.track(EchoServer.start());
    Jar jar = new Jar("toxiproxy", "--listen", "127.0.0.1:0");
    int api = awaitPort(jar, "meshlet toxiproxy listening on 127.0.0.1:");
    ToxiproxyClient client = new ToxiproxyClient("127.0.0.1", api);
    Proxy p = client.createProxy("echo", "127.0.0.1:0", "127.0.0.1:" + echo.port());
    p.toxics().latency("slow", ToxicDirection.DOWNSTREAM, 150);
    int port = Integer.parseInt(p.getListen().substring(p.getListen().lastIndexOf(':') + 1));
    try (Socket s = new Socket("127.0.0.1", port)) {
      s.setSoTimeout(20_000);
      long t0 = System.nanoTime();
      s.getOutputStream().write('x');
      assertThat(s.getInputStream().read()).isEqualTo('x');
      assertThat(System.nanoTime() - t0).isGreaterThanOrEqualTo(TimeUnit.MILLISECONDS.toNanos(150));
    }
    jar.process.destroy(); // SIGTERM
    assertThat(jar.exitCode(Duration.ofSeconds(30))).isZero();
  }

  @Test
  void l4WithAdminServesMetrics() throws Exception {
    EchoServer echo = resources.track(EchoServer.start());
    Jar jar =
        new Jar(
            "l4",
            "--listen",
            "127.0.0.1:0",
            "--backend",
            "127.0.0.1:" + echo.port(),
            "--admin",
            "127.0.0.1:0");
    int proxy = jar.awaitListening();
    int admin = awaitPort(jar, "meshlet admin listening on 127.0.0.1:");
    try (Socket s = new Socket("127.0.0.1", proxy)) {
      s.setSoTimeout(20_000);
      s.getOutputStream().write('x');
      assertThat(s.getInputStream().read()).isEqualTo('x');
    }
    HttpResponse<String> r =
        http.send(
            HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + admin + "/stats/prometheus"))
                .build(),
            HttpResponse.BodyHandlers.ofString());
    assertThat(r.statusCode()).isEqualTo(200);
    assertThat(r.body()).contains("meshlet_downstream_cx_total{listener=\"l4\"} 1\n");
    jar.process.destroy();
    assertThat(jar.exitCode(Duration.ofSeconds(30))).isZero();
  }

  @Test
  void adminOnANonLoopbackAddressNeedsTheSwitch() throws Exception {
    EchoServer echo = resources.track(EchoServer.start());
    Jar jar =
        new Jar(
            "l4",
            "--listen",
            "127.0.0.1:0",
            "--backend",
            "127.0.0.1:" + echo.port(),
            "--admin",
            "0.0.0.0:0");
    assertThat(jar.exitCode(Duration.ofSeconds(30))).isEqualTo(2);
    assertThat(jar.stderr.toString())
        .contains("admin listen 0.0.0.0:0: not a loopback address")
        .contains("--admin-allow-remote");
    // refused before the proxy starts: nothing said it listens
    assertThat(jar.stdout).noneMatch(line -> line.contains("listening on"));
  }
}
