package dev.meshlet.examples;

import static org.assertj.core.api.Assertions.assertThat;

import dev.meshlet.testpki.TestPki;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** The runnable jar's l4 TLS and PROXY protocol flags, end to end over real sockets. */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class CliTlsIT extends CliSupport {
  @TempDir Path dir;

  @Test
  void l4TerminatesTlsInFrontOfAPlainBackendAndL7ReadsItsProxyHeader() throws Exception {
    TestPki pki = TestPki.create();
    TestPki.Pem pem = pki.leaf("localhost").writePem(dir);
    NamedBackend web = backend("web-1");
    // https client -> l4 (terminates, sends PROXY v2) -> l7 (accepts it) -> plain backend
    Jar l7 =
        new Jar(
            "l7",
            "--listen",
            "127.0.0.1:0",
            "--default",
            "127.0.0.1:" + web.port(),
            "--proxy-protocol-in");
    int l7Port = l7.awaitListening();
    Jar l4 =
        new Jar(
            "l4",
            "--listen",
            "127.0.0.1:0",
            "--backend",
            "127.0.0.1:" + l7Port,
            "--tls-cert",
            pem.chain().toString(),
            "--tls-key",
            pem.key().toString(),
            "--proxy-protocol-out",
            "v2");
    int port = l4.awaitListening();
    HttpClient https = HttpClient.newBuilder().sslContext(pki.sslContext()).build();
    HttpResponse<String> r =
        https.send(
            HttpRequest.newBuilder(URI.create("https://localhost:" + port + "/tls")).build(),
            HttpResponse.BodyHandlers.ofString());
    assertThat(r.statusCode()).isEqualTo(200);
    assertThat(r.body().strip()).isEqualTo("web-1: GET /tls");
  }
}
