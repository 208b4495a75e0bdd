package dev.meshlet.admin;

import dev.meshlet.core.Backend;
import dev.meshlet.core.Endpoint;
import dev.meshlet.l4.TcpProxy;
import dev.meshlet.l4.Toxic;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.locks.ReentrantLock;
import org.jspecify.annotations.Nullable;

/**
 * Toxiproxy's HTTP API over meshlet {@link TcpProxy} instances: the proxies made through it (owned,
 * closed with the admin endpoint) and the registered TCP proxies (toxics only; their addresses are
 * the application's).
 */
final class ToxiproxyApi {
  /** The version {@code GET /version} reports: the Toxiproxy API release this one follows. */
  static final String VERSION = "2.12.0-meshlet";

  private final ReentrantLock lock = new ReentrantLock();
  private final Map<String, Entry> proxies = new LinkedHashMap<>();

  /** A proxy as the API sees it. {@code owned}: made through the API. */
  private static final class Entry {
    final String name;
    final boolean owned;
    TcpProxy proxy;
    String upstream;

    Entry(String name, boolean owned, TcpProxy proxy, String upstream) {
      this.name = name;
      this.owned = owned;
      this.proxy = proxy;
      this.upstream = upstream;
    }

    String listen() {
      return proxy.address().getHostString() + ":" + proxy.port();
    }
  }

  ToxiproxyApi(List<Registered> registered) {
    for (Registered r : registered) {
      if (r instanceof Registered.Tcp t) {
        proxies.put(t.name(), new Entry(t.name(), false, t.proxy(), upstreamOf(t.proxy())));
      }
    }
  }

  private static String upstreamOf(TcpProxy p) {
    List<Endpoint> e = p.cluster().endpoints();
    return e.isEmpty() ? "" : e.get(0).backend().authority();
  }

  /** The proxies made through the API, for metrics and drain. */
  List<Registered.Tcp> owned() {
    lock.lock();
    try {
      List<Registered.Tcp> out = new ArrayList<>();
      for (Entry e : proxies.values()) {
        if (e.owned) {
          out.add(new Registered.Tcp(e.name, e.proxy));
        }
      }
      return out;
    } finally {
      lock.unlock();
    }
  }

  /** Closes the proxies made through the API. */
  void close() {
    lock.lock();
    try {
      for (Entry e : proxies.values()) {
        if (e.owned) {
          e.proxy.close();
        }
      }
      proxies.clear();
    } finally {
      lock.unlock();
    }
  }

  /** The reply for a Toxiproxy API request, or null when {@code path} is none of its paths. */
  @Nullable Reply answer(String method, String path, String body) {
    String[] p = path.length() > 1 ? path.substring(1).split("/", -1) : new String[0];
    lock.lock();
    try {
      if (p.length == 1 && p[0].equals("version")) {
        return method.equals("GET")
            ? Reply.text(
                200, "application/json;charset=utf-8", "{\"version\": \"" + VERSION + "\"}\n")
            : Reply.methodNotAllowed(method, path, "GET");
      }
      if (p.length == 1 && p[0].equals("reset")) {
        return method.equals("POST") ? reset() : Reply.methodNotAllowed(method, path, "POST");
      }
      if (p.length == 1 && p[0].equals("populate")) {
        return method.equals("POST")
            ? populate(body)
            : Reply.methodNotAllowed(method, path, "POST");
      }
      if (p.length == 0
          || !p[0].equals("proxies")
          || p.length > 4
          || p.length == 3 && !p[2].equals("toxics")) {
        return null;
      }
      if (p.length == 1) {
        return switch (method) {
          case "GET" -> Reply.json(200, index());
          case "POST" -> create(body);
          default -> Reply.methodNotAllowed(method, path, "GET, POST");
        };
      }
      Entry e = proxies.get(p[1]);
      if (p.length == 2) {
        if (!method.equals("GET")
            && !method.equals("POST")
            && !method.equals("PATCH")
            && !method.equals("DELETE")) {
          return Reply.methodNotAllowed(method, path, "GET, POST, PATCH, DELETE");
        }
        if (e == null) {
          return Reply.error(404, "proxy not found");
        }
        return switch (method) {
          case "GET" -> Reply.json(200, show(e));
          case "DELETE" -> delete(e);
          default -> update(e, body);
        };
      }
      if (p.length == 3) {
        if (!method.equals("GET") && !method.equals("POST")) {
          return Reply.methodNotAllowed(method, path, "GET, POST");
        }
        if (e == null) {
          return Reply.error(404, "proxy not found");
        }
        return method.equals("GET")
            ? Reply.json(200, toxics(e))
            : ToxicRequests.create(e.proxy, body);
      }
      if (!p[2].equals("toxics")) {
        return null;
      }
      if (!method.equals("GET")
          && !method.equals("POST")
          && !method.equals("PATCH")
          && !method.equals("DELETE")) {
        return Reply.methodNotAllowed(method, path, "GET, POST, PATCH, DELETE");
      }
      if (e == null) {
        return Reply.error(404, "proxy not found");
      }
      return ToxicRequests.onToxic(e.proxy, p[3], method, body);
    } finally {
      lock.unlock();
    }
  }

  private Map<String, Object> index() {
    Map<String, Object> m = new LinkedHashMap<>();
    for (Entry e : proxies.values()) {
      m.put(e.name, show(e));
    }
    return m;
  }

  private static Map<String, Object> show(Entry e) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("name", e.name);
    m.put("listen", e.listen());
    m.put("upstream", e.upstream);
    m.put("enabled", e.proxy.isEnabled());
    m.put("toxics", toxics(e));
    return m;
  }

  private static List<Object> toxics(Entry e) {
    List<Object> out = new ArrayList<>();
    e.proxy.toxics().list().forEach((name, t) -> out.add(ToxicCodec.toJson(name, t)));
    return out;
  }

  private Reply reset() {
    for (Entry e : proxies.values()) {
      try {
        e.proxy.enable();
      } catch (IllegalStateException ex) {
        return Reply.error(500, "reset: proxy " + e.name + ": " + ex.getMessage());
      }
      e.proxy.toxics().clear();
    }
    return Reply.noContent();
  }

  private Reply create(String body) {
    Map<?, ?> in;
    try {
      in = Json.object(body);
    } catch (IllegalArgumentException ex) {
      return Reply.error(400, "bad request body: " + ex.getMessage());
    }
    try {
      Entry e = add(in);
      return Reply.json(201, show(e));
    } catch (Conflict c) {
      return Reply.error(409, c.getMessage());
    } catch (IllegalArgumentException ex) {
      return Reply.error(400, ex.getMessage());
    } catch (IOException ex) {
      return Reply.error(500, ex.getMessage());
    }
  }

  /** Thrown when a proxy of the name exists already: 409. */
  private static final class Conflict extends Exception {
    private static final long serialVersionUID = 1L;

    Conflict(String message) {
      super(message);
    }
  }

  private Entry add(Map<?, ?> in) throws IOException, Conflict {
    String name = Json.string(in, "name");
    String upstream = Json.string(in, "upstream");
    if (name.isEmpty()) {
      throw new IllegalArgumentException("missing required field: name");
    }
    if (upstream.isEmpty()) {
      throw new IllegalArgumentException("missing required field: upstream");
    }
    if (proxies.containsKey(name)) {
      throw new Conflict("proxy already exists");
    }
    String listen = Json.string(in, "listen");
    boolean enabled = Json.bool(in, "enabled", true);
    TcpProxy proxy = start(name, listen, upstream, Map.of());
    if (!enabled) {
      proxy.disable();
    }
    Entry e = new Entry(name, true, proxy, upstream);
    proxies.put(name, e);
    return e;
  }

  private static TcpProxy start(
      String name, String listen, String upstream, Map<String, Toxic> toxics) throws IOException {
    Backend b;
    try {
      b = Backend.parse(upstream);
    } catch (IllegalArgumentException ex) {
      throw new IllegalArgumentException("proxy " + name + ": upstream " + ex.getMessage(), ex);
    }
    String host = "127.0.0.1";
    int port = 0;
    if (!listen.isEmpty()) {
      int colon = listen.lastIndexOf(':');
      if (colon < 0) {
        throw new IllegalArgumentException(
            "proxy " + name + ": listen: " + listen + " (expected: HOST:PORT)");
      }
      String h = listen.substring(0, colon);
      host = h.isEmpty() ? "0.0.0.0" : h.replace("[", "").replace("]", "");
      if (host.equals("localhost")) {
        host = "127.0.0.1";
      }
      try {
        port = Integer.parseInt(listen.substring(colon + 1));
      } catch (NumberFormatException ex) {
        throw new IllegalArgumentException(
            "proxy " + name + ": listen: " + listen + " (expected: HOST:PORT)", ex);
      }
    }
    var builder =
        TcpProxy.builder()
            .listen(host, port)
            .backends(b)
            .drainTimeout(Duration.ZERO); // Toxiproxy cuts connections at once on delete
    toxics.forEach(builder::toxic);
    return builder.start();
  }

  private Reply update(Entry e, String body) {
    Map<?, ?> in;
    try {
      in = Json.object(body);
    } catch (IllegalArgumentException ex) {
      return Reply.error(400, "bad request body: " + ex.getMessage());
    }
    String listen = in.containsKey("listen") ? Json.string(in, "listen") : e.listen();
    String upstream = in.containsKey("upstream") ? Json.string(in, "upstream") : e.upstream;
    boolean enabled = Json.bool(in, "enabled", e.proxy.isEnabled());
    boolean moved = !listen.equals(e.listen()) || !upstream.equals(e.upstream);
    try {
      if (moved) {
        if (!e.owned) {
          return Reply.error(
              400,
              "proxy "
                  + e.name
                  + " is the application's: its listen and upstream cannot change through this"
                  + " API");
        }
        Map<String, Toxic> toxics = e.proxy.toxics().list();
        e.proxy.close();
        e.proxy = start(e.name, listen, upstream, toxics);
        e.upstream = upstream;
      }
      if (enabled) {
        e.proxy.enable();
      } else {
        e.proxy.disable();
      }
    } catch (IllegalArgumentException ex) {
      return Reply.error(400, ex.getMessage());
    } catch (IOException | IllegalStateException ex) {
      return Reply.error(500, "proxy " + e.name + ": " + ex.getMessage());
    }
    return Reply.json(200, show(e));
  }

  private Reply delete(Entry e) {
    if (!e.owned) {
      return Reply.error(
          400, "proxy " + e.name + " is the application's: it cannot be deleted through this API");
    }
    proxies.remove(e.name);
    e.proxy.close();
    return Reply.noContent();
  }

  private Reply populate(String body) {
    Object[] in;
    try {
      in = Json.array(body);
    } catch (IllegalArgumentException ex) {
      return Reply.error(400, "bad request body: " + ex.getMessage());
    }
    List<Object> done = new ArrayList<>();
    for (Object o : in) {
      try {
        if (!(o instanceof Map<?, ?> m)) {
          throw new IllegalArgumentException("bad request body: each proxy must be an object");
        }
        Entry old = proxies.get(Json.string(m, "name"));
        if (old != null && old.owned) {
          String listen = Json.string(m, "listen");
          if ((listen.isEmpty() || listen.equals(old.listen()))
              && Json.string(m, "upstream").equals(old.upstream)) {
            // as Toxiproxy: the same proxy again is kept, toxics and connections included
            if (Json.bool(m, "enabled", true)) {
              old.proxy.enable();
            } else {
              old.proxy.disable();
            }
            done.add(show(old));
            continue;
          }
          // a proxy of the same name with another address is replaced
          proxies.remove(old.name);
          old.proxy.close();
        }
        done.add(show(add(m)));
      } catch (Conflict | IllegalArgumentException | IOException ex) {
        Map<String, Object> r = new LinkedHashMap<>();
        int status = ex instanceof Conflict ? 409 : ex instanceof IOException ? 500 : 400;
        r.put("error", ex.getMessage());
        r.put("status", status);
        r.put("proxies", done);
        return Reply.json(status, r);
      }
    }
    return Reply.json(201, Map.of("proxies", done));
  }
}
