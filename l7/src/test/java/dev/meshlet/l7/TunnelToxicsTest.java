package dev.meshlet.l7;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.meshlet.core.Backend;
import dev.meshlet.core.Cluster;
import dev.meshlet.l4.Toxic;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.WebSocket;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * L4 toxics on upgraded connections: the JDK's WebSocket client through the proxy to a Jetty
 * WebSocket echo server, with the route's tunnel toxics set at build time or changed at runtime.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class TunnelToxicsTest extends ResilienceTestSupport {

  /** Collects what one WebSocket receives: whole text messages, binary sizes, its close. */
  static final class Received implements WebSocket.Listener {
    final LinkedBlockingQueue<String> texts = new LinkedBlockingQueue<>();
    final LinkedBlockingQueue<Integer> binaries = new LinkedBlockingQueue<>();

    /** The close status, or 1006 when the connection ended without a close frame. */
    final CompletableFuture<Integer> closed = new CompletableFuture<>();

    private final StringBuilder text = new StringBuilder();
    private int binary;

    @Override
    public @Nullable CompletionStage<?> onText(WebSocket ws, CharSequence data, boolean last) {
      text.append(data);
      if (last) {
        texts.add(text.toString());
        text.setLength(0);
      }
      ws.request(1);
      return null;
    }

    @Override
    public @Nullable CompletionStage<?> onBinary(WebSocket ws, ByteBuffer data, boolean last) {
      binary += data.remaining();
      if (last) {
        binaries.add(binary);
        binary = 0;
      }
      ws.request(1);
      return null;
    }

    @Override
    public @Nullable CompletionStage<?> onClose(WebSocket ws, int status, String reason) {
      closed.complete(status);
      return null;
    }

    @Override
    public void onError(WebSocket ws, Throwable error) {
      closed.complete(1006);
    }
  }

  private WebSocketTest.EchoServer backend() throws Exception {
    return resources.track(new WebSocketTest.EchoServer());
  }

  private HttpProxy proxy(
      WebSocketTest.EchoServer backend,
      Consumer<HttpRouteBuilder> route,
      Consumer<HttpProxyBuilder> proxy)
      throws Exception {
    HttpProxyBuilder b =
        HttpProxy.builder()
            .listen("127.0.0.1", 0)
            .route(
                r -> {
                  r.name("ws").to(Cluster.of("ws", Backend.of("127.0.0.1", backend.port())));
                  route.accept(r);
                });
    proxy.accept(b);
    return resources.track(b.start());
  }

  private WebSocket connect(HttpProxy proxy, Received received) throws Exception {
    HttpClient client = resources.track(HttpClient.newHttpClient());
    WebSocket ws =
        client
            .newWebSocketBuilder()
            .buildAsync(URI.create("ws://127.0.0.1:" + proxy.port() + "/ws"), received)
            .get(10, TimeUnit.SECONDS);
    // closed before its client, whose close() waits for the WebSockets it still has open
    AutoCloseable abort = ws::abort;
    resources.track(abort);
    return ws;
  }

  /** Sends {@code text} and waits for its echo; returns the round trip in nanoseconds. */
  private static long roundTrip(WebSocket ws, Received received, String text) throws Exception {
    long start = System.nanoTime();
    ws.sendText(text, true).get(10, TimeUnit.SECONDS);
    assertThat(received.texts.poll(10, TimeUnit.SECONDS)).isEqualTo("echo:" + text);
    return System.nanoTime() - start;
  }

  /** A new tunnel still echoes, and plain requests are still answered: the proxy keeps serving. */
  private void stillServes(HttpProxy proxy) throws Exception {
    Received again = new Received();
    WebSocket ws = connect(proxy, again);
    roundTrip(ws, again, "again");
    ws.sendClose(WebSocket.NORMAL_CLOSURE, "bye").get(10, TimeUnit.SECONDS);
    assertThat(again.closed.get(10, TimeUnit.SECONDS)).isEqualTo(WebSocket.NORMAL_CLOSURE);
    assertThat(get(proxy, "/plain").statusCode()).isEqualTo(404); // the echo server's answer
  }

  @Test
  void latencyDelaysEveryRoundTripUntilTheToxicIsRemovedAtRuntime() throws Exception {
    Duration latency = Duration.ofMillis(200);
    HttpProxy proxy =
        proxy(backend(), r -> r.tunnelToxic("lag", Toxic.latency(latency).downstream()), p -> {});
    Received received = new Received();
    WebSocket ws = connect(proxy, received);

    for (int i = 0; i < 3; i++) {
      assertThat(Duration.ofNanos(roundTrip(ws, received, "slow" + i)))
          .isGreaterThanOrEqualTo(latency);
    }
    assertThat(proxy.tunnelToxics("ws").remove("lag")).isTrue();
    long fastest = Long.MAX_VALUE;
    for (int i = 0; i < 3; i++) {
      fastest = Math.min(fastest, roundTrip(ws, received, "fast" + i));
    }
    assertThat(Duration.ofNanos(fastest)).isLessThan(latency);

    TunnelStats stats = proxy.tunnelStats("ws");
    assertThat(stats.opened()).isEqualTo(1);
    assertThat(stats.open()).isEqualTo(1);
    assertThat(stats.toxicsApplied()).isEqualTo(1);
    assertThat(stats.bytesUpstream()).isPositive();
    // each echo frame is 2 bytes of header and "echo:" plus the text
    assertThat(stats.bytesDownstream()).isGreaterThanOrEqualTo(3 * (2 + 10) + 3 * (2 + 10));
  }

  @Test
  void bandwidthPacesATunnel() throws Exception {
    HttpProxy proxy =
        proxy(backend(), r -> r.tunnelToxic("thin", Toxic.bandwidth(128).downstream()), p -> {});
    Received received = new Received();
    WebSocket ws = connect(proxy, received);

    long start = System.nanoTime();
    ws.sendBinary(ByteBuffer.allocate(128 * 1024), true).get(10, TimeUnit.SECONDS);
    assertThat(received.binaries.poll(20, TimeUnit.SECONDS)).isEqualTo(128 * 1024);
    // 128 KiB at 128 KiB/s: about a second, of which the first pacing slice (1/20) goes at once
    assertThat(Duration.ofNanos(System.nanoTime() - start))
        .isGreaterThanOrEqualTo(Duration.ofMillis(900));
  }

  @Test
  void limitDataEndsATunnelOnceItsBytesPassedAndTheProxyKeepsServing() throws Exception {
    WebSocketTest.EchoServer backend = backend();
    HttpProxy proxy =
        proxy(backend, r -> r.tunnelToxic("cap", Toxic.limitData(100).downstream()), p -> {});
    // a raw client, to count the bytes exactly (the JDK's WebSocket may not report an end of
    // stream that cuts a frame)
    try (Socket s = new Socket(InetAddress.getLoopbackAddress(), proxy.port())) {
      s.setSoTimeout(10_000);
      OutputStream out = s.getOutputStream();
      out.write(
          ("GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
              .getBytes(StandardCharsets.US_ASCII));
      InputStream in = s.getInputStream();
      assertThat(readHead(in)).startsWith("HTTP/1.1 101");
      byte[] frame = new byte[8 + 1024]; // a masked binary frame of 1024 zero bytes, mask 0
      frame[0] = (byte) 0x82;
      frame[1] = (byte) (0x80 | 126);
      frame[2] = 0x04;
      out.write(frame);
      // the 1028-byte echo is cut after 100 bytes, then the tunnel ends
      assertThat(in.readAllBytes()).hasSize(100);
    }
    stillServes(proxy); // the next tunnel gets its own 100 bytes
    assertThat(proxy.tunnelStats("ws").toxicsApplied()).isEqualTo(2);
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

  @Test
  void resetPeerAddedAtRuntimeResetsAnOpenTunnel() throws Exception {
    HttpProxy proxy = proxy(backend(), r -> {}, p -> {});
    Received received = new Received();
    WebSocket ws = connect(proxy, received);
    roundTrip(ws, received, "before");

    proxy.tunnelToxics("ws").add("cut", Toxic.resetPeer(Duration.ZERO).downstream());
    ws.sendText("after", true).get(10, TimeUnit.SECONDS);

    assertThat(received.closed.get(10, TimeUnit.SECONDS)).isEqualTo(1006);
    assertThat(received.texts).isEmpty(); // the echo was swallowed by the reset
    assertThat(proxy.tunnelStats("ws").toxicsApplied()).isEqualTo(1);
    proxy.tunnelToxics("ws").remove("cut");
    stillServes(proxy);
    awaitOpenTunnels(proxy, 0);
  }

  @Test
  void timeoutDropsTheDataThenClosesTheTunnel() throws Exception {
    Duration timeout = Duration.ofMillis(300);
    HttpProxy proxy =
        proxy(backend(), r -> r.tunnelToxic("hang", Toxic.timeout(timeout).upstream()), p -> {});
    Received received = new Received();
    long start = System.nanoTime();
    WebSocket ws = connect(proxy, received);
    ws.sendText("lost", true).get(10, TimeUnit.SECONDS);

    assertThat(received.closed.get(10, TimeUnit.SECONDS)).isEqualTo(1006);
    assertThat(Duration.ofNanos(System.nanoTime() - start)).isGreaterThanOrEqualTo(timeout);
    assertThat(received.texts).isEmpty();
  }

  @Test
  void anIdleTunnelIsClosedAfterTheIdleTimeoutAndCounted() throws Exception {
    HttpProxy proxy = proxy(backend(), r -> {}, p -> p.idleTimeout(Duration.ofMillis(500)));
    Received received = new Received();
    WebSocket ws = connect(proxy, received);
    roundTrip(ws, received, "once");

    assertThat(received.closed.get(10, TimeUnit.SECONDS)).isEqualTo(1006);
    awaitOpenTunnels(proxy, 0);
    assertThat(proxy.tunnelStats("ws").idleTimeouts()).isEqualTo(1);
    assertThat(ws.isInputClosed()).isTrue();
  }

  @Test
  void tunnelToxicsOfAnUnknownRouteOrGivenTwiceAreRefused() throws Exception {
    HttpProxy proxy = proxy(backend(), r -> {}, p -> {});
    assertThatThrownBy(() -> proxy.tunnelToxics("nope"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("route: 'nope'")
        .hasMessageContaining("ws");
    assertThatThrownBy(
            () ->
                HttpProxy.builder()
                    .route(
                        r ->
                            r.tunnelToxic("x", Toxic.latency(Duration.ofMillis(1)))
                                .tunnelToxic("x", Toxic.latency(Duration.ofMillis(2)))))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("tunnelToxic: 'x' given twice");
  }

  private static void awaitOpenTunnels(HttpProxy proxy, int n) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (proxy.tunnelStats("ws").open() != n) {
      assertThat(System.nanoTime() - deadline).as("tunnels open: expected %d", n).isNegative();
      TimeUnit.MILLISECONDS.sleep(5);
    }
  }
}
