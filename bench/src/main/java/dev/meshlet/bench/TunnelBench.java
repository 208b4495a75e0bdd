package dev.meshlet.bench;

import dev.meshlet.core.Backend;
import dev.meshlet.core.Cluster;
import dev.meshlet.l4.TcpProxy;
import dev.meshlet.l7.HttpProxy;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Echo round trips per second over upgraded connections, through the L7 proxy's tunnel and through
 * a plain L4 {@link TcpProxy}, in one JVM: a backend that answers a WebSocket upgrade with {@code
 * 101} and then echoes bytes, and clients that each send the upgrade and then ping-pong a small
 * message in lockstep. The proxies never parse the frames, so the messages are raw bytes. Rounds
 * interleave the two targets; medians are printed.
 *
 * <p>{@code java -jar meshlet-bench.jar tunnel [connections=16] [seconds=5] [rounds=5] [bytes=64]}
 */
final class TunnelBench {
  private static final byte[] UPGRADE =
      ("GET /ws HTTP/1.1\r\nHost: bench\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
          .getBytes(StandardCharsets.US_ASCII);
  private static final byte[] SWITCHED =
      ("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              + "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n")
          .getBytes(StandardCharsets.US_ASCII);

  private TunnelBench() {}

  static void main(String[] args) throws Exception {
    int connections = args.length > 0 ? Integer.parseInt(args[0]) : 16;
    int seconds = args.length > 1 ? Integer.parseInt(args[1]) : 5;
    int rounds = args.length > 2 ? Integer.parseInt(args[2]) : 5;
    int bytes = args.length > 3 ? Integer.parseInt(args[3]) : 64;
    try (ExecutorService threads = Executors.newVirtualThreadPerTaskExecutor();
        ServerSocket backend = new ServerSocket(0, 512, InetAddress.getLoopbackAddress())) {
      threads.submit(() -> serve(backend, threads));
      Cluster cluster = Cluster.of("echo", Backend.of("127.0.0.1", backend.getLocalPort()));
      try (TcpProxy l4 = TcpProxy.builder().listen("127.0.0.1", 0).cluster(cluster).start();
          HttpProxy l7 =
              HttpProxy.builder()
                  .listen("127.0.0.1", 0)
                  .defaultRoute(cluster)
                  .idleTimeout(Duration.ofMinutes(5))
                  .start()) {
        String[] names = {"direct", "L4 TcpProxy", "L7 tunnel"};
        int[] ports = {backend.getLocalPort(), l4.port(), l7.port()};
        for (int t = 0; t < ports.length; t++) { // warm-up
          run(ports[t], connections, 2, bytes, threads);
        }
        double[][] rps = new double[ports.length][rounds];
        for (int r = 0; r < rounds; r++) {
          for (int t = 0; t < ports.length; t++) {
            rps[t][r] = run(ports[t], connections, seconds, bytes, threads);
          }
        }
        System.out.printf(
            "%d connections, %d-byte messages, %d rounds of %d s%n",
            connections, bytes, rounds, seconds);
        for (int t = 0; t < ports.length; t++) {
          double[] s = rps[t].clone();
          Arrays.sort(s);
          System.out.printf(
              "%-12s %,10.0f round trips/s (median; runs %,.0f-%,.0f)%n",
              names[t], s[s.length / 2], s[0], s[s.length - 1]);
        }
      }
      backend.close();
    }
  }

  /** Round trips per second over {@code connections} tunnels through {@code port}. */
  private static double run(int port, int connections, int seconds, int bytes, ExecutorService ex)
      throws Exception {
    AtomicBoolean stop = new AtomicBoolean();
    List<Socket> sockets = new ArrayList<>();
    for (int i = 0; i < connections; i++) {
      Socket s = new Socket(InetAddress.getLoopbackAddress(), port);
      s.setTcpNoDelay(true);
      s.getOutputStream().write(UPGRADE);
      readHead(s.getInputStream());
      sockets.add(s);
    }
    List<Future<Long>> counts = new ArrayList<>();
    long start = System.nanoTime();
    for (Socket s : sockets) {
      counts.add(ex.submit(() -> pingPong(s, bytes, stop)));
    }
    Thread.sleep(Duration.ofSeconds(seconds)); // the measured period, not a wait for a condition
    stop.set(true);
    long total = 0;
    for (Future<Long> f : counts) {
      total += f.get();
    }
    double elapsed = (System.nanoTime() - start) / 1e9;
    for (Socket s : sockets) {
      s.close();
    }
    return total / elapsed;
  }

  private static long pingPong(Socket s, int bytes, AtomicBoolean stop) throws IOException {
    byte[] message = new byte[bytes];
    byte[] back = new byte[bytes];
    OutputStream out = s.getOutputStream();
    InputStream in = s.getInputStream();
    long n = 0;
    while (!stop.get()) {
      out.write(message);
      if (in.readNBytes(back, 0, bytes) != bytes) {
        throw new IOException("the echo ended early");
      }
      n++;
    }
    return n;
  }

  /** The backend: a 101 to whatever head comes, then an echo of every byte. */
  private static void serve(ServerSocket server, ExecutorService ex) {
    while (!server.isClosed()) {
      try {
        Socket s = server.accept();
        ex.submit(
            () -> {
              try (s) {
                s.setTcpNoDelay(true);
                InputStream in = s.getInputStream();
                OutputStream out = s.getOutputStream();
                readHead(in);
                out.write(SWITCHED);
                byte[] buf = new byte[16 * 1024];
                for (int k; (k = in.read(buf)) >= 0; ) {
                  out.write(buf, 0, k);
                }
              }
              return null;
            });
      } catch (IOException e) {
        return; // closed
      }
    }
  }

  private static void readHead(InputStream in) throws IOException {
    int matched = 0; // of "\r\n\r\n"
    while (matched < 4) {
      int c = in.read();
      if (c < 0) {
        throw new IOException("the connection ended before the end of the head");
      }
      matched =
          (c == '\r' && (matched == 0 || matched == 2))
                  || (c == '\n' && (matched == 1 || matched == 3))
              ? matched + 1
              : (c == '\r' ? 1 : 0);
    }
  }
}
