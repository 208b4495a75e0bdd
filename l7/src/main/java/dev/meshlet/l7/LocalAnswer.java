package dev.meshlet.l7;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import org.eclipse.jetty.http.HttpFields;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.BufferUtil;
import org.eclipse.jetty.util.Callback;
import org.jspecify.annotations.Nullable;

/**
 * The one writer of the proxy's own short answers (errors, overflow refusals, injected aborts): a
 * plain-text body with its length, and the connection closed where the request may not be trusted
 * to have ended cleanly. Stateless.
 */
final class LocalAnswer {
  /** The header naming why the proxy refused a request with 503. */
  static final String OVERFLOW_HEADER = "X-Meshlet-Overflow";

  private static final String TEXT = "text/plain; charset=utf-8";

  private LocalAnswer() {}

  /** Answers {@code status} with its fixed body; the response must not be committed. */
  static void error(Response clientResponse, int status, boolean close, Callback callback) {
    write(clientResponse, true, status, body(status), null, close, callback);
  }

  /**
   * Answers {@code status} saying {@code why}: a 503 from a circuit breaker (named in {@link
   * #OVERFLOW_HEADER} too) or a 502 whose cause the client may read; the response must not be
   * committed.
   */
  static void withReason(Response clientResponse, int status, String why, Callback callback) {
    String line = status == 503 ? "503 Service Unavailable: " : "502 Bad Gateway: ";
    byte[] text = (line + why + "\n").getBytes(StandardCharsets.UTF_8);
    write(clientResponse, true, status, text, status == 503 ? why : null, false, callback);
  }

  /**
   * Answers the abort fault of {@code plan}: its status, or a gRPC status for a gRPC call or a gRPC
   * abort ({@link FaultPlan#abortAnswer} says which HTTP status is written).
   */
  static void fault(Response clientResponse, FaultPlan plan, boolean grpc, Callback callback) {
    int status = plan.abortStatus;
    if (plan.abortGrpc > 0 || grpc) {
      int code = plan.abortGrpc > 0 ? plan.abortGrpc : Grpc.localStatus(status, null);
      String what = plan.abortGrpc > 0 ? "fault injected" : "fault injected: " + status;
      grpc(clientResponse, code, what, null, false, callback);
      return;
    }
    byte[] text = ("fault injected: " + status + "\n").getBytes(StandardCharsets.US_ASCII);
    write(clientResponse, true, status, text, null, false, callback);
  }

  /**
   * Answers a gRPC call with gRPC status {@code code} saying {@code message}, as a Trailers-Only
   * response: HTTP 200, {@code application/grpc}, {@code grpc-status} and {@code grpc-message} in
   * the head, no body (on HTTP/2 one HEADERS frame that ends the stream). {@code overflow} names
   * the circuit breaker that refused it, or is null.
   */
  static void grpc(
      Response clientResponse,
      int code,
      String message,
      @Nullable String overflow,
      boolean close,
      Callback callback) {
    clientResponse.reset();
    clientResponse.setStatus(200);
    HttpFields.Mutable h = clientResponse.getHeaders();
    h.put(HttpHeader.CONTENT_TYPE, Grpc.CONTENT_TYPE);
    h.put(Grpc.STATUS, Integer.toString(code));
    h.put(Grpc.MESSAGE, Grpc.encodeMessage(message));
    h.put(HttpHeader.CONTENT_LENGTH, 0);
    if (overflow != null) {
      h.put(OVERFLOW_HEADER, overflow);
    }
    if (close) {
      h.put(HttpHeader.CONNECTION, "close");
    }
    clientResponse.write(true, BufferUtil.EMPTY_BUFFER, callback);
  }

  /** The {@code grpc-message} of the proxy's own answer of {@code status}, saying {@code why}. */
  static String grpcMessage(int status, @Nullable String why) {
    String line = new String(body(status), StandardCharsets.US_ASCII).strip();
    return why == null ? "meshlet: " + line : "meshlet: " + status + ": " + why;
  }

  /**
   * Writes the body of an error Jetty raised before the proxy's handler ran (its status is set).
   */
  static void jettyError(Response clientResponse, int status, Callback callback) {
    write(clientResponse, false, status, body(status), null, false, callback);
  }

  private static void write(
      Response clientResponse,
      boolean reset,
      int status,
      byte[] text,
      @Nullable String overflow,
      boolean close,
      Callback callback) {
    if (reset) {
      clientResponse.reset();
      clientResponse.setStatus(status);
    }
    HttpFields.Mutable h = clientResponse.getHeaders();
    h.put(HttpHeader.CONTENT_TYPE, TEXT);
    h.put(HttpHeader.CONTENT_LENGTH, text.length);
    if (overflow != null) {
      h.put(OVERFLOW_HEADER, overflow);
    }
    if (close) {
      h.put(HttpHeader.CONNECTION, "close");
    }
    clientResponse.write(true, ByteBuffer.wrap(text), callback);
  }

  /** The fixed short body of {@code status}. */
  static byte[] body(int status) {
    String text =
        switch (status) {
          case 400 -> "400 Bad Request\n";
          case 403 -> "403 Forbidden: peer not allowed\n";
          case 404 -> "404 Not Found: no route\n";
          case 405 -> "405 Method Not Allowed\n";
          case 408 -> "408 Request Timeout\n";
          case 414 -> "414 URI Too Long\n";
          case 431 -> "431 Request Header Fields Too Large\n";
          case 502 -> "502 Bad Gateway\n";
          case 503 -> "503 Service Unavailable: no backend\n";
          case 504 -> "504 Gateway Timeout\n";
          default -> status + "\n";
        };
    return text.getBytes(StandardCharsets.US_ASCII);
  }

  /**
   * The raw {@code 408} a connection gets when its request head did not arrive in time (written to
   * the endpoint: there is no request to answer through).
   */
  static byte[] rawRequestTimeout() {
    byte[] text = body(408);
    String head =
        "HTTP/1.1 408 Request Timeout\r\nContent-Type: "
            + TEXT
            + "\r\nContent-Length: "
            + text.length
            + "\r\nConnection: close\r\n\r\n";
    byte[] h = head.getBytes(StandardCharsets.ISO_8859_1);
    byte[] all = new byte[h.length + text.length];
    System.arraycopy(h, 0, all, 0, h.length);
    System.arraycopy(text, 0, all, h.length, text.length);
    return all;
  }
}
