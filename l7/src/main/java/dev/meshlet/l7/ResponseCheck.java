package dev.meshlet.l7;

import org.eclipse.jetty.client.Response;
import org.eclipse.jetty.http.HttpField;
import org.eclipse.jetty.http.HttpHeader;
import org.jspecify.annotations.Nullable;

/** Checks a backend's response head before it is forwarded; a problem is answered 502. */
final class ResponseCheck {
  private ResponseCheck() {}

  /** What is wrong with the response head, or null when it may be forwarded. */
  static @Nullable String problem(Response response) {
    int status = response.getStatus();
    if (status < 200) {
      // 100, 102 and 103 are consumed by the client's protocol handlers; the proxy never forwards
      // an
      // upgrade (Upgrade is hop-by-hop), so a 101 or unknown 1xx here is not a final response
      return "interim status " + status + " as the final response";
    }
    int te = 0;
    for (HttpField f : response.getHeaders()) {
      if (f.getHeader() == HttpHeader.TRANSFER_ENCODING) {
        te++;
        if (te > 1 || !"chunked".equalsIgnoreCase(f.getValue().strip())) {
          return "Transfer-Encoding '" + f.getValue() + "' (expected: chunked)";
        }
      }
    }
    return null;
  }
}
