package dev.meshlet.admin;

import java.util.LinkedHashMap;
import java.util.Map;
import org.eclipse.jetty.util.ajax.JSON;
import org.jspecify.annotations.Nullable;

/** An answer of the admin endpoint: status, content type, body and, for a 405, the methods. */
record Reply(int status, String contentType, String body, @Nullable String allow) {
  static final String JSON_TYPE = "application/json";

  static Reply json(int status, Object value) {
    return new Reply(status, JSON_TYPE, new JSON().toJSON(value) + "\n", null);
  }

  static Reply text(int status, String contentType, String body) {
    return new Reply(status, contentType, body, null);
  }

  static Reply noContent() {
    return new Reply(204, "text/plain", "", null);
  }

  /** Toxiproxy's error shape: {@code {"error": "...", "status": 404}}. */
  static Reply error(int status, @Nullable String message) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("error", message == null ? "status " + status : message);
    m.put("status", status);
    return json(status, m);
  }

  static Reply methodNotAllowed(String method, String path, String allow) {
    Reply r =
        error(405, "method " + method + " not allowed on " + path + " (allowed: " + allow + ")");
    return new Reply(r.status, r.contentType, r.body, allow);
  }
}
