package dev.meshlet.testkit;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.InputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AutoClose;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@Timeout(value = 30, unit = TimeUnit.SECONDS)
class EchoServerTest {
  @AutoClose private final Resources resources = new Resources();

  private Socket connect(EchoServer server) throws IOException {
    Socket s = resources.track(new Socket(server.address().getAddress(), server.port()));
    s.setSoTimeout(10_000);
    return s;
  }

  @Test
  void echoesAndHalfClosesWhenTheClientDoes() throws Exception {
    EchoServer server = resources.track(EchoServer.start());
    Socket s = connect(server);
    s.getOutputStream().write("ping".getBytes(StandardCharsets.US_ASCII));
    s.shutdownOutput();
    InputStream in = s.getInputStream();
    assertThat(new String(in.readAllBytes(), StandardCharsets.US_ASCII)).isEqualTo("ping");
    Await.until("the server saw the connection end", () -> server.openConnections() == 0);
    assertThat(server.accepted()).isEqualTo(1);
  }

  @Test
  void namedServerGreetsWithItsNameThenEchoes() throws Exception {
    EchoServer server = resources.track(EchoServer.named("a"));
    Socket s = connect(server);
    s.getOutputStream().write('x');
    s.shutdownOutput();
    assertThat(new String(s.getInputStream().readAllBytes(), StandardCharsets.US_ASCII))
        .isEqualTo("a\nx");
  }

  @Test
  void closeCutsOpenConnections() throws Exception {
    EchoServer server = EchoServer.start();
    Socket s = connect(server);
    Await.until("the server accepted", () -> server.openConnections() == 1);
    server.close();
    assertThat(s.getInputStream().read()).isEqualTo(-1);
    assertThat(server.openConnections()).isZero();
  }
}
