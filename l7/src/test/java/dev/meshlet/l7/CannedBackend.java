package dev.meshlet.l7;

import dev.meshlet.core.Backend;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * A raw backend on 127.0.0.1:0 for what a well-behaved server never sends: it reads one request
 * (head and Content-Length or chunked body, trailers included), records its bytes, writes the
 * canned response for the request's path as is, and closes the connection.
 */
final class CannedBackend implements AutoCloseable {
  final Map<String, String> canned = new ConcurrentHashMap<>();

  /** Each request as received, bytes as ISO-8859-1 text. */
  final List<String> requests = new CopyOnWriteArrayList<>();

  private final ServerSocket server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
  private final Thread acceptor;

  CannedBackend() throws IOException {
    acceptor = Thread.ofPlatform().daemon().name("canned-backend").start(this::accept);
  }

  private void accept() {
    while (!server.isClosed()) {
      try {
        Socket s = server.accept();
        Thread.ofPlatform().daemon().name("canned-backend-conn").start(() -> serve(s));
      } catch (IOException e) {
        return; // closed
      }
    }
  }

  private void serve(Socket s) {
    try (s) {
      s.setSoTimeout(20_000);
      InputStream in = s.getInputStream();
      String head = readUntil(in, "\r\n\r\n", new ByteArrayOutputStream());
      String lower = head.toLowerCase(Locale.ROOT);
      String body = "";
      if (lower.contains("transfer-encoding: chunked")) {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        readUntil(in, "\r\n0\r\n", b);
        body = readUntil(in, "\r\n\r\n", b); // trailers, if any, then the empty line
      } else {
        int at = lower.indexOf("content-length:");
        if (at >= 0) {
          int n = Integer.parseInt(lower.substring(at + 15, lower.indexOf('\r', at)).strip());
          body = new String(in.readNBytes(n), StandardCharsets.ISO_8859_1);
        }
      }
      requests.add(head + body);
      String path = head.substring(head.indexOf(' ') + 1, head.indexOf(' ', head.indexOf(' ') + 1));
      String answer = canned.getOrDefault(path, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
      s.getOutputStream().write(answer.getBytes(StandardCharsets.ISO_8859_1));
      s.getOutputStream().flush();
    } catch (IOException | RuntimeException e) {
      // the proxy went away: nothing to record
    }
  }

  /**
   * Reads up to and including {@code end}, appending to {@code into}; returns all of {@code into}.
   */
  private static String readUntil(InputStream in, String end, ByteArrayOutputStream into)
      throws IOException {
    int start = into.size();
    while (true) {
      int b = in.read();
      if (b < 0) {
        throw new IOException("eof");
      }
      into.write(b);
      String s = into.toString(StandardCharsets.ISO_8859_1);
      if (s.length() - start >= end.length() && s.endsWith(end)) {
        return s;
      }
    }
  }

  Backend backend() {
    return Backend.of("127.0.0.1", server.getLocalPort());
  }

  String last() {
    return requests.get(requests.size() - 1);
  }

  @Override
  public void close() throws IOException {
    server.close();
  }
}
