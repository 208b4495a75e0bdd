package dev.meshlet.examples;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import org.junit.jupiter.api.Test;

/** The command line's parsing, without starting a proxy. */
class CliParserTest {

  @Test
  void flagsTakeTheirValueAfterASpaceOrAnEqualsSign() {
    Flags f =
        new Flags(
            List.of("--listen=:0", "--backend", "127.0.0.1:1", "--defer-resolution"),
            L4Mode.FLAGS,
            L4Mode.SWITCHES);
    assertThat(f.required("--listen")).isEqualTo(":0");
    assertThat(f.all("--backend")).containsExactly("127.0.0.1:1");
    assertThat(f.flag("--defer-resolution")).isTrue();
    f.done();
  }

  @Test
  void aSwitchGivenAValueIsRefused() {
    assertThatThrownBy(() -> new Flags(List.of("--access-log=yes"), L7Mode.FLAGS, L7Mode.SWITCHES))
        .hasMessage("--access-log takes no value (got 'yes')");
  }

  @Test
  void anEmptyInlineValueIsAMissingValue() {
    Flags f = new Flags(List.of("--listen="), L4Mode.FLAGS, L4Mode.SWITCHES);
    assertThatThrownBy(() -> f.required("--listen")).hasMessage("--listen: missing value");
  }

  @Test
  void unknownFlagsAreNamedBeforeAnythingElseIsChecked() {
    assertThatThrownBy(
            () -> new Flags(List.of("--bakend", "127.0.0.1:1"), L4Mode.FLAGS, L4Mode.SWITCHES))
        .hasMessage("unknown flag --bakend");
    assertThatThrownBy(() -> new Flags(List.of("--frobnicate=1"), L7Mode.FLAGS, L7Mode.SWITCHES))
        .hasMessage("unknown flag --frobnicate");
  }

  @Test
  void listenTakesPortColonPortOrHostPort() {
    assertThat(Values.listen("9000")).containsExactly("0.0.0.0", "9000");
    assertThat(Values.listen(":9000")).containsExactly("0.0.0.0", "9000");
    assertThat(Values.listen("127.0.0.1:9000")).containsExactly("127.0.0.1", "9000");
    assertThat(Values.listen("[::1]:9000")).containsExactly("::1", "9000");
  }

  @Test
  void listenRefusesWhatIsNotHostPort() {
    for (String bad : List.of("nonsense", "127.0.0.1", "127.0.0.1:", "host:port", ":-1")) {
      assertThatThrownBy(() -> Values.listen(bad))
          .as(bad)
          .hasMessage("--listen '" + bad + "': expected HOST:PORT (or PORT)");
    }
    assertThatThrownBy(() -> Values.listen(":70000"))
        .hasMessage("--listen: port 70000 out of range (expected: 0-65535)");
  }

  @Test
  void durationsReadAsTheyAreWritten() {
    assertThat(Values.duration("500ms", "--x")).isEqualTo(Duration.ofMillis(500));
    assertThat(Values.duration("2s", "--x")).isEqualTo(Duration.ofSeconds(2));
    assertThat(Values.duration("1m", "--x")).isEqualTo(Duration.ofMinutes(1));
    assertThat(Values.duration("1h", "--x")).isEqualTo(Duration.ofHours(1));
    assertThat(Values.duration("PT2S", "--x")).isEqualTo(Duration.ofSeconds(2));
    assertThatThrownBy(() -> Values.duration("2 secs", "--x"))
        .hasMessage("--x: '2 secs' is not a duration (expected e.g. 500ms, 2s, 1m, 1h)");
  }

  @Test
  void aFlagWithoutAModeNamesTheModes() {
    Output o = run("--listen", ":9000", "--backend", "127.0.0.1:1");
    assertThat(o.code).isEqualTo(2);
    assertThat(o.err)
        .contains("'--listen' needs a mode first (expected: l4, l7, toxiproxy, demo or sidecars")
        .contains("usage:");
  }

  @Test
  void versionIsPrinted() {
    Output o = run("--version");
    assertThat(o.code).isZero();
    assertThat(o.out).startsWith("meshlet ").isEqualTo("meshlet " + Main.version() + "\n");
  }

  @Test
  void demoFlagsStillStartTheDemoWithoutAMode() {
    Output o = run("--http-port", "nonsense");
    assertThat(o.code).isEqualTo(2);
    assertThat(o.err).contains("meshlet demo: --http-port: 'nonsense' is not a number");
  }

  @Test
  void badTlsSniAndProxyProtocolValuesExitTwoNamingTheFlag() {
    String[] base = {"l4", "--listen", "127.0.0.1:0", "--backend", "127.0.0.1:1"};
    String[][] cases = {
      {"--proxy-protocol-out", "v3"},
      {"--tls-cert", "chain.pem"},
      {"--tls-key", "key.pem"},
      {"--tls-cert", "/nonexistent/chain.pem", "--tls-key", "/nonexistent/key.pem"},
      {"--upstream-ca", "ca.pem"},
      {"--upstream-tls", "--upstream-ca", "/nonexistent/ca.pem"},
      {"--sni-route", "api.example.com"},
      {"--sni-route", "a/b=127.0.0.1:2"},
      {"--handshake-timeout", "soon"},
      {"--proxy-protocol-from", "10.0.0.0/33"},
    };
    String[] reasons = {
      "meshlet: --proxy-protocol-out 'v3' (expected: v1, v2)",
      "meshlet: --tls-cert needs --tls-key",
      "meshlet: --tls-key needs --tls-cert",
      "meshlet: --tls-cert/--tls-key: ",
      "meshlet: --upstream-ca needs --upstream-tls",
      "meshlet: --upstream-ca: ",
      "meshlet: --sni-route 'api.example.com' (expected: NAME=HOST:PORT[,HOST:PORT...])",
      "meshlet: --sni-route 'a/b=127.0.0.1:2': sniRoute: 'a/b'",
      "meshlet: --handshake-timeout: 'soon' is not a duration",
      "meshlet: --proxy-protocol-from: '10.0.0.0/33' (expected: an IP address or block",
    };
    for (int i = 0; i < cases.length; i++) {
      List<String> args = new ArrayList<>(List.of(base));
      args.addAll(List.of(cases[i]));
      Output o = run(args.toArray(new String[0]));
      assertThat(o.code).as(String.join(" ", cases[i])).isEqualTo(2);
      assertThat(o.err).as(String.join(" ", cases[i])).startsWith(reasons[i]);
    }
    Output l7 =
        run("l7", "--listen", "127.0.0.1:0", "--default", "127.0.0.1:1", "--proxy-protocol-out=4");
    assertThat(l7.code).isEqualTo(2);
    assertThat(l7.err).startsWith("meshlet: --proxy-protocol-out '4' (expected: v1, v2)");
  }

  @Test
  void l4StartsWithSniRoutesAndBothProxyProtocolFlags() {
    Output o =
        run(
            "l4",
            "--listen",
            "127.0.0.1:0",
            "--backend",
            "127.0.0.1:1",
            "--sni-route",
            "api.example.com=127.0.0.1:2,127.0.0.1:3",
            "--sni-route",
            "*.db.example.com=127.0.0.1:4",
            "--proxy-protocol-in",
            "--proxy-protocol-from",
            "10.0.0.0/8",
            "--proxy-protocol-from=2001:db8::/32",
            "--proxy-protocol-out",
            "v1",
            "--upstream-tls",
            "--handshake-timeout",
            "2s");
    assertThat(o.code).as(o.err).isZero();
    assertThat(o.out).contains("meshlet l4 listening on 127.0.0.1:").contains("stopped");
  }

  private record Output(int code, String out, String err) {}

  private static Output run(String... args) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    int code =
        Main.run(
            List.of(args),
            new PrintStream(out, true, StandardCharsets.UTF_8),
            new PrintStream(err, true, StandardCharsets.UTF_8),
            new CountDownLatch(0));
    return new Output(
        code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
  }
}
