package dev.meshlet.examples;

import static org.assertj.core.api.Assertions.assertThat;

import dev.meshlet.testkit.Await;
import dev.meshlet.testpki.TestPki;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** The l7 mode's TLS flags, run in this JVM through {@link Main#run}. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class CliTlsTest {
  private static final TestPki PKI = TestPki.create();

  @TempDir Path dir;

  /** Runs {@code args} to its exit code; stderr goes to {@code err}. */
  private static int exit(ByteArrayOutputStream err, String... args) {
    return Main.run(
        List.of(args),
        new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8),
        new PrintStream(err, true, StandardCharsets.UTF_8),
        new CountDownLatch(0));
  }

  /** A started {@code meshlet l7 …} in this JVM: its port, and how to stop it. */
  private record Running(int port, CountDownLatch stop, CompletableFuture<Integer> exit) {
    static Running start(String... args) {
      ByteArrayOutputStream out = new ByteArrayOutputStream();
      CountDownLatch stop = new CountDownLatch(1);
      CompletableFuture<Integer> exit =
          CompletableFuture.supplyAsync(
              () ->
                  Main.run(
                      List.of(args),
                      new PrintStream(out, true, StandardCharsets.UTF_8),
                      System.err,
                      stop),
              // a thread each: the common pool may have one, and a running proxy holds it
              task -> Thread.ofPlatform().name("cli-" + args[0]).start(task));
      Matcher m =
          Await.value(
              "the listening line of " + String.join(" ", args),
              () -> CliSupport.LISTENING.matcher(out.toString(StandardCharsets.UTF_8)),
              x -> x.find() || exit.isDone());
      assertThat(exit).as("still running").isNotDone();
      return new Running(Integer.parseInt(m.group(2)), stop, exit);
    }

    int stopped() throws Exception {
      stop.countDown();
      return exit.get(30, TimeUnit.SECONDS);
    }
  }

  @Test
  void twoCommandLineSidecarsSpeakMutualTlsBetweenThem() throws Exception {
    TestPki.Pem inbound = PKI.leaf("localhost").writePem(dir);
    TestPki.Pem web = PKI.spiffe("spiffe://cluster.local/ns/default/sa/web").writePem(dir);
    Path ca = PKI.caPem(dir);
    try (NamedBackend app = NamedBackend.start("app");
        HttpClient http = HttpClient.newHttpClient()) {
      Running in =
          Running.start(
              "l7",
              "--listen",
              "127.0.0.1:0",
              "--default",
              "127.0.0.1:" + app.port(),
              "--tls-cert",
              inbound.chain().toString(),
              "--tls-key",
              inbound.key().toString(),
              "--client-ca",
              ca.toString(),
              "--require-client-cert");
      Running out =
          Running.start(
              "l7",
              "--listen",
              "127.0.0.1:0",
              "--default",
              "localhost:" + in.port(),
              "--upstream-tls",
              "--upstream-ca",
              ca.toString(),
              "--upstream-cert",
              web.chain().toString(),
              "--upstream-key",
              web.key().toString());
      HttpResponse<String> r =
          http.send(
              HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + out.port() + "/x")).build(),
              HttpResponse.BodyHandlers.ofString());
      assertThat(r.statusCode()).isEqualTo(200);
      assertThat(r.body()).contains("app");
      // without its client certificate the outbound side is refused by the inbound one
      Running anonymous =
          Running.start(
              "l7",
              "--listen",
              "127.0.0.1:0",
              "--default",
              "localhost:" + in.port(),
              "--upstream-tls",
              "--upstream-ca",
              ca.toString());
      assertThat(
              http.send(
                      HttpRequest.newBuilder(
                              URI.create("http://127.0.0.1:" + anonymous.port() + "/x"))
                          .build(),
                      HttpResponse.BodyHandlers.ofString())
                  .statusCode())
          .isEqualTo(502);
      assertThat(anonymous.stopped()).isZero();
      assertThat(out.stopped()).isZero();
      assertThat(in.stopped()).isZero();
    }
  }

  @Test
  void badTlsFilesExitTwoNamingTheFile() throws Exception {
    TestPki.Pem a = PKI.leaf("a.local").writePem(dir);
    TestPki.Pem b = PKI.leaf("b.local").writePem(dir);
    Path garbage = Files.writeString(dir.resolve("garbage.pem"), "hello\n");
    Path missing = dir.resolve("missing.pem");
    String[] base = {"l7", "--listen", "127.0.0.1:0", "--default", "127.0.0.1:1"};
    Object[][] cases = {
      {
        new String[] {"--tls-cert", missing.toString(), "--tls-key", a.key().toString()},
        missing + ": no such file"
      },
      {
        new String[] {"--tls-cert", a.chain().toString(), "--tls-key", b.key().toString()},
        b.key() + ": does not match the certificate in " + a.chain()
      },
      {
        new String[] {"--tls-cert", garbage.toString(), "--tls-key", a.key().toString()},
        garbage + ": no certificate"
      },
      {
        new String[] {
          "--tls-cert",
          a.chain().toString(),
          "--tls-key",
          a.key().toString(),
          "--client-ca",
          garbage.toString()
        },
        "--client-ca: tls trust " + garbage + ": no certificate"
      },
      {new String[] {"--tls-cert", a.chain().toString()}, "--tls-cert needs --tls-key"},
      {
        new String[] {
          "--tls-cert",
          a.chain().toString(),
          "--tls-key",
          a.key().toString(),
          "--require-client-cert"
        },
        "--require-client-cert needs --client-ca"
      },
      {new String[] {"--upstream-ca", a.chain().toString()}, "--upstream-ca needs --upstream-tls"},
      {
        new String[] {"--upstream-tls", "--upstream-ca", missing.toString()},
        "--upstream-ca: tls trust " + missing + ": no such file"
      },
    };
    for (Object[] c : cases) {
      String[] extra = (String[]) c[0];
      String[] args = new String[base.length + extra.length];
      System.arraycopy(base, 0, args, 0, base.length);
      System.arraycopy(extra, 0, args, base.length, extra.length);
      ByteArrayOutputStream err = new ByteArrayOutputStream();
      assertThat(exit(err, args)).as(String.join(" ", extra)).isEqualTo(2);
      String said = err.toString(StandardCharsets.UTF_8);
      assertThat(said).contains((String) c[1]).doesNotContain("PRIVATE KEY");
    }
  }
}
