package dev.meshlet.l7;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Objects;

/**
 * How the proxy compresses responses for clients that accept it ({@link
 * HttpProxyBuilder#compression(ResponseCompression)}): gzip, when the client's {@code
 * Accept-Encoding} allows it, the response's type is one of {@link #mimeTypes()}, it is not encoded
 * already ({@code Content-Encoding}), and its body is at least {@link #minBytes()} long. gRPC
 * ({@code application/grpc*}) is never compressed. Each write is flushed as it streams (gzip's sync
 * flush), so a streamed or server-sent-events response reaches the client chunk by chunk; {@code
 * Vary: Accept-Encoding} is added. As Envoy's compressor filter by default, the backend still gets
 * the client's {@code Accept-Encoding} (a backend that compresses itself is passed through) unless
 * {@link #removeAcceptEncoding()}.
 *
 * <pre>{@code
 * HttpProxy.builder().compression(ResponseCompression.defaults().withMinBytes(256))
 * }</pre>
 *
 * @param minBytes the smallest body compressed, in bytes (default 1024; a body whose length is
 *     unknown is compressed unless its first and last write is smaller)
 * @param mimeTypes the response types compressed (lower case, no parameters; default text/html,
 *     text/plain, text/css, text/javascript, text/xml, text/event-stream, application/javascript,
 *     application/json, application/xml, image/svg+xml)
 * @param removeAcceptEncoding whether the request to the backend goes without {@code
 *     Accept-Encoding}, so that the proxy does the compressing (default false)
 */
public record ResponseCompression(
    int minBytes, List<String> mimeTypes, boolean removeAcceptEncoding) {

  private static final List<String> DEFAULT_TYPES =
      List.of(
          "text/html",
          "text/plain",
          "text/css",
          "text/javascript",
          "text/xml",
          "text/event-stream",
          "application/javascript",
          "application/json",
          "application/xml",
          "image/svg+xml");

  /**
   * Checks the values.
   *
   * @throws IllegalArgumentException for a negative size, no or a blank type, or a gRPC type
   */
  public ResponseCompression {
    if (minBytes < 0) {
      throw new IllegalArgumentException("compression minBytes: " + minBytes + " (expected: >= 0)");
    }
    Objects.requireNonNull(mimeTypes, "mimeTypes");
    if (mimeTypes.isEmpty()) {
      throw new IllegalArgumentException(
          "compression mimeTypes: none (expected: at least one, such as text/html)");
    }
    List<String> types = new ArrayList<>();
    for (String t : mimeTypes) {
      String m = Objects.requireNonNull(t, "mime type").strip().toLowerCase(Locale.ROOT);
      if (m.isEmpty() || m.indexOf('/') < 1 || m.indexOf(';') >= 0) {
        throw new IllegalArgumentException(
            "compression mime type: '" + t + "' (expected: type/subtype, such as text/html)");
      }
      if (m.startsWith("application/grpc")) {
        throw new IllegalArgumentException(
            "compression mime type: '" + t + "' (gRPC has its own message compression)");
      }
      types.add(m);
    }
    mimeTypes = List.copyOf(types);
  }

  /** The defaults: 1024 bytes at least, common text types, {@code Accept-Encoding} kept. */
  public static ResponseCompression defaults() {
    return new ResponseCompression(1024, DEFAULT_TYPES, false);
  }

  /** A copy that compresses bodies of at least {@code bytes}. */
  public ResponseCompression withMinBytes(int bytes) {
    return new ResponseCompression(bytes, mimeTypes, removeAcceptEncoding);
  }

  /** A copy that compresses responses of these types only. */
  public ResponseCompression withMimeTypes(String... types) {
    return new ResponseCompression(minBytes, List.of(types), removeAcceptEncoding);
  }

  /**
   * A copy that removes (true) or keeps the client's {@code Accept-Encoding} toward the backend.
   */
  public ResponseCompression withRemoveAcceptEncoding(boolean remove) {
    return new ResponseCompression(minBytes, mimeTypes, remove);
  }
}
