package dev.meshlet.admin;

/** Which answer each admin path gets; the Toxiproxy API's paths go to {@link ToxiproxyApi}. */
final class Routes {
  static final String PROMETHEUS_TYPE = "text/plain; version=0.0.4; charset=utf-8";
  private final AdminState state;

  Routes(AdminState state) {
    this.state = state;
  }

  Reply answer(String method, String path, String body) {
    switch (path) {
      case "/stats/prometheus":
        return get(method, path)
            ? Reply.text(200, PROMETHEUS_TYPE, Metrics.write(state.all()))
            : Reply.methodNotAllowed(method, path, "GET");
      case "/clusters":
        return get(method, path)
            ? Reply.json(200, Views.clusters(state.all()))
            : Reply.methodNotAllowed(method, path, "GET");
      case "/config":
        return get(method, path)
            ? Reply.json(200, Views.config(state.all(), state.draining(), state.sections()))
            : Reply.methodNotAllowed(method, path, "GET");
      case "/ready":
        if (!get(method, path)) {
          return Reply.methodNotAllowed(method, path, "GET");
        }
        return state.ready()
            ? Reply.text(200, "text/plain; charset=utf-8", "LIVE\n")
            : Reply.text(
                503, "text/plain; charset=utf-8", state.draining() ? "DRAINING\n" : "NOT READY\n");
      case "/drain":
        if (!method.equals("POST")) {
          return Reply.methodNotAllowed(method, path, "POST");
        }
        state.drain();
        return Reply.text(200, "text/plain; charset=utf-8", "OK\n");
      default:
        Reply r = state.toxiproxy().answer(method, path, body);
        return r != null ? r : Reply.error(404, "not found: " + path);
    }
  }

  private static boolean get(String method, String unused) {
    return method.equals("GET") || method.equals("HEAD");
  }
}
