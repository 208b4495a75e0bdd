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
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.LongAdder;

/**
 * Child roles for bulk throughput: a server that writes an endless stream to every connection, and
 * a client that reads N parallel streams for a fixed time and reports Gbit/s. Both use 1 MiB direct
 * buffers, so the copies they make are the kernel's only.
 */
final class Bulk {
  static final int CHUNK = 1 << 20;

  private Bulk() {}

  /** {@code bulk-server}: prints {@code PORT n}; ends on end of stdin. */
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
                Thread.ofPlatform()
                    .daemon()
                    .start(
                        () -> {
                          ByteBuffer b = ByteBuffer.allocateDirect(CHUNK);
                          try (ch) {
                            while (true) {
                              b.clear();
                              ch.write(b);
                            }
                          } catch (IOException e) {
                            // the client went away
                          }
                        });
              }
            });
    new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8))
        .lines()
        .forEach(l -> {});
    server.close();
    System.exit(0);
  }

  /** {@code bulk-client <port> <streams> <warmup s> <seconds>}: prints {@code GBITS x}. */
  static void client(String[] args) throws Exception {
    int port = Integer.parseInt(args[0]);
    int streams = Integer.parseInt(args[1]);
    double warmup = Double.parseDouble(args[2]);
    double seconds = Double.parseDouble(args[3]);
    LongAdder bytes = new LongAdder();
    AtomicBoolean stop = new AtomicBoolean();
    List<SocketChannel> channels = new ArrayList<>();
    List<Thread> threads = new ArrayList<>();
    for (int i = 0; i < streams; i++) {
      SocketChannel ch =
          SocketChannel.open(new InetSocketAddress(InetAddress.getLoopbackAddress(), port));
      ch.setOption(StandardSocketOptions.TCP_NODELAY, true);
      channels.add(ch);
      threads.add(
          Thread.ofPlatform()
              .daemon()
              .start(
                  () -> {
                    ByteBuffer b = ByteBuffer.allocateDirect(CHUNK);
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
                  }));
    }
    Thread.sleep((long) (warmup * 1000));
    long b0 = bytes.sum();
    long t0 = System.nanoTime();
    Thread.sleep((long) (seconds * 1000));
    long b1 = bytes.sum();
    long t1 = System.nanoTime();
    stop.set(true);
    for (SocketChannel ch : channels) {
      ch.close();
    }
    double gbits = (b1 - b0) * 8.0 / (t1 - t0); // bits per ns = Gbit/s
    System.out.println("GBITS " + gbits);
    System.out.flush();
    System.exit(0);
  }
}
