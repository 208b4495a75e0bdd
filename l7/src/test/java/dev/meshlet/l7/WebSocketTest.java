package dev.meshlet.l7;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.meshlet.core.Cluster;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.WebSocket;
import java.net.http.WebSocketHandshakeException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.websocket.server.WebSocketUpgradeHandler;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * WebSocket through the proxy: the upgrade forwarded, the tunnel both ways, refusals as answers.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class WebSocketTest extends ResilienceTestSupport {

  /** A Jetty WebSocket echo server on /ws that also counts the upgrades it accepted. */
  static final class EchoServer implements AutoCloseable {
    final Server server = new Server();
    final ServerConnector connector = new ServerConnector(server, 1, 1);
    final AtomicInteger upgrades = new AtomicInteger();
    final LinkedBlockingQueue<String> seenUpgradeHeaders = new LinkedBlockingQueue<>();

    EchoServer() throws Exception {
      connector.setHost("127.0.0.1");
      server.addConnector(connector);
      WebSocketUpgradeHandler ws =
          WebSocketUpgradeHandler.from(
              server,
              container -> {
                container.setMaxBinaryMessageSize(2 << 20);
                container.addMapping(
                    "/ws",
                    (rq, rs, cb) -> {
                      upgrades.incrementAndGet();
                      String via = rq.getHeaders().get("Via");
                      seenUpgradeHeaders.add(via == null ? "-" : via);
                      return new WsEcho();
                    });
              });
      ws.setHandler(
          new org.eclipse.jetty.server.Handler.Abstract() {
            @Override
            public boolean handle(
                org.eclipse.jetty.server.Request request,
                org.eclipse.jetty.server.Response response,
                org.eclipse.jetty.util.Callback callback) {
              String upgrade = request.getHeaders().get("Upgrade");
              response.setStatus(404);
              response.getHeaders().put("X-Saw-Upgrade", upgrade == null ? "no" : upgrade);
              response.write(true, null, callback);
              return true;
            }
          });
      server.setHandler(ws);
      server.start();
    }

    int port() {
      return connector.getLocalPort();
    }

    @Override
    public void close() throws Exception {
      server.stop();
    }
  }

  private static final class Listener implements WebSocket.Listener {
    final LinkedBlockingQueue<String> texts = new LinkedBlockingQueue<>();
    final LinkedBlockingQueue<Integer> binaries = new LinkedBlockingQueue<>();
    final CompletableFuture<Integer> closed = new CompletableFuture<>();
    private final StringBuilder text = new StringBuilder();
    private int binary;

    @Override
    public CompletionStage<?> onText(WebSocket ws, CharSequence data, boolean last) {
      text.append(data);
      if (last) {
        texts.add(text.toString());
        text.setLength(0);
      }
      ws.request(1);
      return null;
    }

    @Override
    public CompletionStage<?> onBinary(WebSocket ws, ByteBuffer data, boolean last) {
      binary += data.remaining();
      if (last) {
        binaries.add(binary);
        binary = 0;
      }
      ws.request(1);
      return null;
    }

    @Override
    public CompletionStage<?> onClose(WebSocket ws, int status, String reason) {
      closed.complete(status);
      return null;
    }

    @Override
    public void onError(WebSocket ws, Throwable error) {
      closed.complete(1006);
    }
  }

  private HttpProxy proxy(EchoServer backend, String... upgrades) throws Exception {
    return resources.track(
        HttpProxy.builder()
            .listen("127.0.0.1", 0)
            .route(
                r -> {
                  r.name("ws")
                      .to(
                          Cluster.of(
                              "ws", dev.meshlet.core.Backend.of("127.0.0.1", backend.port())));
                  if (upgrades.length > 0) {
                    r.upgrades(upgrades[0].isEmpty() ? new String[0] : upgrades);
                  }
                })
            .start());
  }

  @Test
  void textAndBinaryMessagesPassBothWaysThroughTheTunnel() throws Exception {
    EchoServer backend = resources.track(new EchoServer());
    HttpProxy proxy = proxy(backend);
    HttpClient client = resources.track(HttpClient.newHttpClient());
    Listener listener = new Listener();
    WebSocket ws =
        client
            .newWebSocketBuilder()
            .buildAsync(URI.create("ws://127.0.0.1:" + proxy.port() + "/ws"), listener)
            .get(10, TimeUnit.SECONDS);

    for (int i = 0; i < 50; i++) {
      ws.sendText("m" + i, true).get(10, TimeUnit.SECONDS);
    }
    for (int i = 0; i < 50; i++) {
      assertThat(listener.texts.poll(10, TimeUnit.SECONDS)).isEqualTo("echo:m" + i);
    }
    ws.sendBinary(ByteBuffer.allocate(1 << 20), true).get(10, TimeUnit.SECONDS);
    assertThat(listener.binaries.poll(10, TimeUnit.SECONDS)).isEqualTo(1 << 20);
    ws.sendClose(WebSocket.NORMAL_CLOSURE, "bye").get(10, TimeUnit.SECONDS);
    assertThat(listener.closed.get(10, TimeUnit.SECONDS)).isEqualTo(WebSocket.NORMAL_CLOSURE);

    assertThat(backend.upgrades.get()).isEqualTo(1);
    assertThat(backend.seenUpgradeHeaders.poll())
        .isEqualTo("1.1 meshlet"); // forwarded as a request
    HttpEvent.Completed done = proxy.awaitRequests(1, Duration.ofSeconds(10)).get(0);
    assertThat(done.status()).isEqualTo(101);
    assertThat(done.backendStatus()).isEqualTo(101);
  }

  @Test
  void aBackendThatRefusesTheUpgradeIsAnsweredAsAnOrdinaryResponse() throws Exception {
    EchoServer backend = resources.track(new EchoServer());
    HttpProxy proxy = proxy(backend);
    HttpClient client = resources.track(HttpClient.newHttpClient());

    ExecutionException x =
        org.junit.jupiter.api.Assertions.assertThrows(
            ExecutionException.class,
            () ->
                client
                    .newWebSocketBuilder()
                    .buildAsync(
                        URI.create("ws://127.0.0.1:" + proxy.port() + "/not-ws"), new Listener())
                    .get(10, TimeUnit.SECONDS));

    assertThat(x.getCause()).isInstanceOf(WebSocketHandshakeException.class);
    WebSocketHandshakeException refused = (WebSocketHandshakeException) x.getCause();
    assertThat(refused.getResponse().statusCode()).isEqualTo(404);
    assertThat(refused.getResponse().headers().firstValue("X-Saw-Upgrade")).hasValue("websocket");
    // the proxy keeps serving the connection's next request as plain HTTP
    assertThat(get(proxy, "/plain").statusCode()).isEqualTo(404);
  }

  @Test
  void anUpgradeTheRouteDoesNotAllowIsForwardedWithoutItsUpgrade() throws Exception {
    EchoServer backend = resources.track(new EchoServer());
    HttpProxy proxy = proxy(backend, ""); // no upgrades on this route
    HttpClient client = resources.track(HttpClient.newHttpClient());

    assertThatThrownBy(
            () ->
                client
                    .newWebSocketBuilder()
                    .buildAsync(
                        URI.create("ws://127.0.0.1:" + proxy.port() + "/ws"), new Listener())
                    .get(10, TimeUnit.SECONDS))
        .hasCauseInstanceOf(WebSocketHandshakeException.class);
    assertThat(backend.upgrades.get()).isZero();
  }

  @Test
  void bytesSentWithTheUpgradeRequestAndAHalfCloseReachTheBackend() throws Exception {
    EchoServer backend = resources.track(new EchoServer());
    HttpProxy proxy = proxy(backend);
    try (Socket s = new Socket(InetAddress.getLoopbackAddress(), proxy.port())) {
      s.setSoTimeout(10_000);
      OutputStream out = s.getOutputStream();
      byte[] head =
          ("GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
              .getBytes(StandardCharsets.US_ASCII);
      byte[] frame = {(byte) 0x81, (byte) 0x82, 1, 2, 3, 4, (byte) ('h' ^ 1), (byte) ('i' ^ 2)};
      byte[] both = new byte[head.length + frame.length];
      System.arraycopy(head, 0, both, 0, head.length);
      System.arraycopy(frame, 0, both, head.length, frame.length);
      out.write(both); // the frame rides in the same segment as the upgrade request
      out.flush();
      InputStream in = s.getInputStream();
      String response = readHead(in);
      assertThat(response)
          .startsWith("HTTP/1.1 101")
          .containsIgnoringCase("upgrade: websocket")
          .contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
      byte[] echo = in.readNBytes(9);
      assertThat(new String(echo, 2, 7, StandardCharsets.US_ASCII)).isEqualTo("echo:hi");
      s.shutdownOutput(); // the backend sees the end of the client's stream and closes its side
      assertThat(in.read())
          .as("the tunnel closed by the backend")
          .isEqualTo(-1); // soTimeout bounds it
    }
    proxy.awaitIdle(Duration.ofSeconds(10));
  }

  @Test
  void closingTheProxyClosesItsOpenTunnels() throws Exception {
    EchoServer backend = resources.track(new EchoServer());
    HttpProxy proxy = proxy(backend);
    HttpClient client = resources.track(HttpClient.newHttpClient());
    Listener listener = new Listener();
    WebSocket ws =
        client
            .newWebSocketBuilder()
            .buildAsync(URI.create("ws://127.0.0.1:" + proxy.port() + "/ws"), listener)
            .get(10, TimeUnit.SECONDS);
    ws.sendText("before", true).get(10, TimeUnit.SECONDS);
    assertThat(listener.texts.poll(10, TimeUnit.SECONDS)).isEqualTo("echo:before");

    proxy.close();

    // the client's connection ends: an abnormal closure (1006), as no close frame came
    assertThat(listener.closed.get(10, TimeUnit.SECONDS)).isEqualTo(1006);
  }

  private static String readHead(InputStream in) throws Exception {
    StringBuilder b = new StringBuilder();
    while (!b.toString().endsWith("\r\n\r\n")) {
      int c = in.read();
      if (c < 0) {
        break;
      }
      b.append((char) c);
    }
    return b.toString();
  }
}
