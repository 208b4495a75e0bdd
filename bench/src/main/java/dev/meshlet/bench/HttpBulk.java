package dev.meshlet.bench;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.LongAdder;

/**
 * Child roles for HTTP download throughput through an L7 proxy: a server that answers {@code GET
 * /cl} with an endless body of a Content-Length of 1 TiB, and {@code GET /chunked} with endless 1
 * MiB chunks; and a client that reads one such download for a fixed time and reports Gbit/s. Both
 * use 1 MiB direct buffers, so what differs between the two is the proxy's framing of the body.
 */
final class HttpBulk {
  private HttpBulk() {}

  /** {@code http-bulk-server}: prints {@code PORT n}; ends on end of stdin. */
  static void server(String[] args) throws IOException {
    ServerSocketChannel server = ServerSocketChannel.open();
    server.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 128);
    System.out.println("PORT " + ((InetSocketAddress) server.getLocalAddress()).getPort());
    System.out.flush();
    Thread.ofPlatform()
        .daemon()
        .start(
            () -> {
              while (true) {
                SocketChannel ch;
                try {
                  ch = server.accept();
                } catch (IOException e) {
                  return;
                }
                Thread.ofPlatform().daemon().start(() -> answer(ch));
              }
            });
    new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8))
        .lines()
        .forEach(l -> {});
    server.close();
    System.exit(0);
  }

  private static void answer(SocketChannel ch) {
    try (ch) {
      String head = readHead(ch);
      boolean chunked = head.startsWith("GET /chunked");
      ByteBuffer body = ByteBuffer.allocateDirect(Bulk.CHUNK);
      if (chunked) {
        int data = Bulk.CHUNK - 16;
        // one chunk per buffer: its size line, the data, its CRLF
        body.put((Integer.toHexString(data) + "\r\n").getBytes(StandardCharsets.US_ASCII));
        for (int i = 0; i < data; i++) {
          body.put((byte) 'x');
        }
        body.put((byte) '\r').put((byte) '\n');
        body.flip();
      }
      String response =
          chunked
              ? "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
              : "HTTP/1.1 200 OK\r\nContent-Length: " + (1L << 40) + "\r\n\r\n";
      ch.write(ByteBuffer.wrap(response.getBytes(StandardCharsets.US_ASCII)));
      int limit = body.limit();
      while (true) {
        body.position(0).limit(limit);
        while (body.hasRemaining()) {
          ch.write(body);
        }
      }
    } catch (IOException e) {
      // the client went away
    }
  }

  private static String readHead(SocketChannel ch) throws IOException {
    ByteBuffer b = ByteBuffer.allocate(8192);
    while (b.hasRemaining()) {
      if (ch.read(b) < 0) {
        break;
      }
      String s = new String(b.array(), 0, b.position(), StandardCharsets.US_ASCII);
      if (s.contains("\r\n\r\n")) {
        return s;
      }
    }
    throw new IOException("no request head");
  }

  /** {@code http-bulk-client <port> <path> <warmup s> <seconds>}: prints {@code GBITS x}. */
  static void client(String[] args) throws Exception {
    int port = Integer.parseInt(args[0]);
    String path = args[1];
    double warmup = Double.parseDouble(args[2]);
    double seconds = Double.parseDouble(args[3]);
    LongAdder bytes = new LongAdder();
    AtomicBoolean stop = new AtomicBoolean();
    SocketChannel ch =
        SocketChannel.open(new InetSocketAddress(InetAddress.getLoopbackAddress(), port));
    ch.setOption(StandardSocketOptions.TCP_NODELAY, true);
    ch.write(
        ByteBuffer.wrap(
            ("GET " + path + " HTTP/1.1\r\nHost: bulk\r\n\r\n")
                .getBytes(StandardCharsets.US_ASCII)));
    Thread reader =
        Thread.ofPlatform()
            .daemon()
            .start(
                () -> {
                  ByteBuffer b = ByteBuffer.allocateDirect(Bulk.CHUNK);
                  try {
                    while (!stop.get()) {
                      b.clear();
                      int n = ch.read(b);
                      if (n < 0) {
                        return;
                      }
                      bytes.add(n);
                    }
                  } catch (IOException e) {
                    // closed at the end
                  }
                });
    Thread.sleep((long) (warmup * 1000));
    long b0 = bytes.sum();
    long t0 = System.nanoTime();
    Thread.sleep((long) (seconds * 1000));
    long b1 = bytes.sum();
    long t1 = System.nanoTime();
    stop.set(true);
    ch.close();
    reader.join(2_000);
    System.out.println("GBITS " + (b1 - b0) * 8.0 / (t1 - t0)); // bits per ns = Gbit/s
    System.out.flush();
    System.exit(0);
  }
}
