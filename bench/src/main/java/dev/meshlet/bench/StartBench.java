package dev.meshlet.bench;

import dev.meshlet.core.Backend;
import dev.meshlet.core.Cluster;
import dev.meshlet.l4.TcpProxy;
import dev.meshlet.l7.HttpProxy;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * What a test pays for a proxy of its own: build and start a proxy on a free port, send one request
 * through it to a backend that is already up, read the whole answer, close the proxy. The backend
 * is a blocking loopback server answering a fixed HTTP/1.1 response and closing, so the figure is
 * the proxy's start, first connection and close, not a client library's. Warm JVM, as in a test
 * suite that starts many proxies.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(1)
@State(Scope.Benchmark)
public class StartBench {
  private static final byte[] REQUEST =
      "GET / HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n".getBytes(StandardCharsets.US_ASCII);
  private static final byte[] RESPONSE =
      "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
          .getBytes(StandardCharsets.US_ASCII);

  private ServerSocket backend;
  private Thread acceptor;

  /** Starts the backend: each connection reads the request head, gets the response, is closed. */
  @Setup
  public void setup() throws IOException {
    backend = new ServerSocket(0, 512, InetAddress.getLoopbackAddress());
    acceptor = Thread.ofVirtual().start(this::serve);
  }

  private void serve() {
    while (!backend.isClosed()) {
      try {
        Socket s = backend.accept();
        Thread.ofVirtual().start(() -> answer(s));
      } catch (IOException closed) {
        return;
      }
    }
  }

  private static void answer(Socket s) {
    try (s) {
      InputStream in = s.getInputStream();
      int last = 0;
      // the head ends at the first empty line; the requests carry no body
      while (last != 0x0d0a0d0a) {
        int b = in.read();
        if (b < 0) {
          return;
        }
        last = (last << 8) | b;
      }
      s.getOutputStream().write(RESPONSE);
    } catch (IOException ignored) {
      // the proxy went away: nothing to answer
    }
  }

  /** Stops the backend. */
  @TearDown
  public void tearDown() throws IOException, InterruptedException {
    backend.close();
    acceptor.join();
  }

  /** An {@link HttpProxy} with its defaults: build, start, one proxied request, close. */
  @Benchmark
  public int l7() throws IOException {
    try (HttpProxy proxy =
        HttpProxy.builder()
            .listen("127.0.0.1", 0)
            .defaultRoute(Cluster.of("b", Backend.of("127.0.0.1", backend.getLocalPort())))
            .start()) {
      return fetch(proxy.port());
    }
  }

  /** A {@link TcpProxy} with its defaults: build, start, one spliced exchange, close. */
  @Benchmark
  public int l4() throws IOException {
    try (TcpProxy proxy =
        TcpProxy.builder()
            .listen("127.0.0.1", 0)
            .backends(Backend.of("127.0.0.1", backend.getLocalPort()))
            .start()) {
      return fetch(proxy.port());
    }
  }

  /** Sends the request and reads the answer to its end; returns the bytes read. */
  private static int fetch(int port) throws IOException {
    try (Socket s = new Socket()) {
      s.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 5_000);
      s.setSoTimeout(5_000);
      OutputStream out = s.getOutputStream();
      out.write(REQUEST);
      out.flush();
      InputStream in = s.getInputStream();
      byte[] buf = new byte[1024];
      int total = 0;
      for (int n; (n = in.read(buf)) > 0; ) {
        total += n;
      }
      if (total < RESPONSE.length) {
        throw new IOException("short answer: " + total + " bytes");
      }
      return total;
    }
  }
}
