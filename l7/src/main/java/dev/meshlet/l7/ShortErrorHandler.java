package dev.meshlet.l7;

import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.server.handler.ErrorHandler;
import org.eclipse.jetty.util.Callback;
import org.jspecify.annotations.Nullable;

/**
 * Answers the errors Jetty raises before our handler runs (malformed requests: 400, oversized head:
 * 431, oversized URI: 414) with a short plain-text body, and counts them.
 */
final class ShortErrorHandler extends ErrorHandler {
  private final Counters total;

  ShortErrorHandler(Counters total) {
    this.total = total;
    setShowStacks(false);
    setShowCauses(false);
    setShowMessageInTitle(false);
  }

  @Override
  protected void generateResponse(
      Request request,
      Response response,
      int code,
      @Nullable String message,
      @Nullable Throwable cause,
      Callback callback) {
    if (request.getAttribute(ForwardingHandler.EXCHANGE_ATTRIBUTE) == null) {
      // rejected before reaching the proxy handler: count it here
      total.rejected(code);
      HttpProxyStats.ErrorKind kind =
          switch (code) {
            case 400 -> HttpProxyStats.ErrorKind.BAD_REQUEST;
            case 408 -> HttpProxyStats.ErrorKind.REQUEST_TIMEOUT;
            case 414 -> HttpProxyStats.ErrorKind.URI_TOO_LONG;
            case 431 -> HttpProxyStats.ErrorKind.HEADERS_TOO_LARGE;
            default -> null;
          };
      if (kind != null) {
        total.error(kind);
      }
    }
    LocalAnswer.jettyError(response, code, callback);
  }
}
