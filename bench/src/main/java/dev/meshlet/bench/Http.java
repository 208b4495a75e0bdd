package dev.meshlet.bench;

import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;

/**
 * The minimum of HTTP/1.1 the load clients need: one GET, and reading one response off a stream.
 */
final class Http {
  static final byte[] GET =
      "GET / HTTP/1.1\r\nHost: bench\r\n\r\n".getBytes(StandardCharsets.US_ASCII);

  private Http() {}

  /**
   * Reads one response (status, headers, body by Content-Length or chunked) and returns the status.
   */
  static int readResponse(InputStream in, StringBuilder line) throws IOException {
    int status = -1;
    long length = -1;
    boolean chunked = false;
    while (true) {
      readLine(in, line);
      if (status < 0) {
        if (line.length() < 12 || !line.substring(0, 5).equals("HTTP/")) {
          throw new IOException("not an HTTP status line: " + line);
        }
        status = Integer.parseInt(line.substring(9, 12));
        continue;
      }
      if (line.isEmpty()) {
        break;
      }
      int colon = line.indexOf(":");
      if (colon > 0) {
        String name = line.substring(0, colon).strip();
        String value = line.substring(colon + 1).strip();
        if (name.equalsIgnoreCase("content-length")) {
          length = Long.parseLong(value);
        } else if (name.equalsIgnoreCase("transfer-encoding")
            && value.toLowerCase().contains("chunked")) {
          chunked = true;
        }
      }
    }
    if (chunked) {
      while (true) {
        readLine(in, line);
        int semi = line.indexOf(";");
        long size =
            Long.parseLong((semi >= 0 ? line.substring(0, semi) : line.toString()).strip(), 16);
        if (size == 0) {
          do {
            readLine(in, line); // trailers, then the empty line
          } while (!line.isEmpty());
          break;
        }
        skip(in, size);
        readLine(in, line);
      }
    } else if (length > 0) {
      skip(in, length);
    }
    return status;
  }

  private static void readLine(InputStream in, StringBuilder line) throws IOException {
    line.setLength(0);
    while (true) {
      int c = in.read();
      if (c < 0) {
        throw new EOFException("connection closed mid-response");
      }
      if (c == '\n') {
        int n = line.length();
        if (n > 0 && line.charAt(n - 1) == '\r') {
          line.setLength(n - 1);
        }
        return;
      }
      line.append((char) c);
    }
  }

  private static void skip(InputStream in, long n) throws IOException {
    while (n > 0) {
      long k = in.skip(n);
      if (k <= 0) {
        if (in.read() < 0) {
          throw new EOFException("connection closed mid-body");
        }
        k = 1;
      }
      n -= k;
    }
  }
}
