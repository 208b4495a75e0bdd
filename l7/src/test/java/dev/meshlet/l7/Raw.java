package dev.meshlet.l7;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.Socket;
import java.net.SocketException;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/** Raw HTTP/1.1 over a socket, for what well-behaved clients cannot send. */
final class Raw {
  private Raw() {}

  /** A response read until the server closed the connection. */
  record Reply(String statusLine, Map<String, String> headers, String body, String raw) {
    int status() {
      return statusLine.isEmpty() ? -1 : Integer.parseInt(statusLine.split(" ")[1]);
    }

    String header(String name) {
      return headers.get(name.toLowerCase(Locale.ROOT));
    }
  }

  /** Sends {@code request} as is and reads everything until EOF (the request should say close). */
  static Reply exchange(int port, String request) throws IOException {
    try (Socket s = new Socket("127.0.0.1", port)) {
      s.setSoTimeout(20_000);
      s.getOutputStream().write(request.getBytes(StandardCharsets.ISO_8859_1));
      s.getOutputStream().flush();
      return parse(readAll(s.getInputStream()));
    }
  }

  static String readAll(InputStream in) throws IOException {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    byte[] buf = new byte[8192];
    try {
      for (int n; (n = in.read(buf)) >= 0; ) {
        out.write(buf, 0, n);
      }
    } catch (SocketException e) {
      // reset after the answer: keep what arrived
    }
    return out.toString(StandardCharsets.ISO_8859_1);
  }

  static Reply parse(String raw) {
    int end = raw.indexOf("\r\n\r\n");
    String head = end < 0 ? raw : raw.substring(0, end);
    String body = end < 0 ? "" : raw.substring(end + 4);
    String[] lines = head.split("\r\n");
    Map<String, String> headers = new LinkedHashMap<>();
    for (int i = 1; i < lines.length; i++) {
      int colon = lines[i].indexOf(':');
      if (colon > 0) {
        headers.merge(
            lines[i].substring(0, colon).toLowerCase(Locale.ROOT),
            lines[i].substring(colon + 1).strip(),
            (a, b) -> a + ", " + b);
      }
    }
    return new Reply(raw.isEmpty() ? "" : lines[0], headers, body, raw);
  }

  /** Reads until {@code n} responses with Content-Length bodies arrived. */
  static String readResponses(InputStream in, int n) throws IOException {
    StringBuilder all = new StringBuilder();
    int done = 0;
    int from = 0;
    while (done < n) {
      int b = in.read();
      if (b < 0) {
        break;
      }
      all.append((char) b);
      int head = all.indexOf("\r\n\r\n", from);
      if (head >= 0) {
        String h = all.substring(from, head).toLowerCase(Locale.ROOT);
        int at = h.indexOf("content-length:");
        int len =
            Integer.parseInt(
                h.substring(at + 15, h.indexOf('\r', at) < 0 ? h.length() : h.indexOf('\r', at))
                    .strip());
        for (int i = 0; i < len; i++) {
          all.append((char) in.read());
        }
        from = all.length();
        done++;
      }
    }
    return all.toString();
  }
}
