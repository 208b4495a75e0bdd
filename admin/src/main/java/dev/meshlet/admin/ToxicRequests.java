package dev.meshlet.admin;

import dev.meshlet.l4.TcpProxy;
import dev.meshlet.l4.Toxic;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/** Toxiproxy's toxic requests on one proxy: create, show, update and delete. */
final class ToxicRequests {
  private ToxicRequests() {}

  /** {@code POST /proxies/{proxy}/toxics}: 200 with the toxic, 409 if the name is taken. */
  static Reply create(TcpProxy proxy, String body) {
    Map<?, ?> in;
    try {
      in = Json.object(body);
    } catch (IllegalArgumentException e) {
      return Reply.error(400, "bad request body: " + e.getMessage());
    }
    Toxic t;
    try {
      Object attrs = in.get("attributes");
      if (attrs != null && !(attrs instanceof Map)) {
        throw new IllegalArgumentException("attributes: " + attrs + " (expected: an object)");
      }
      t =
          ToxicCodec.fromJson(
              in.get("type"),
              in.get("stream"),
              in.get("toxicity"),
              attrs == null ? Map.of() : (Map<?, ?>) attrs);
    } catch (IllegalArgumentException e) {
      return Reply.error(400, e.getMessage());
    }
    Object n = in.get("name");
    String name =
        n instanceof String s && !s.isEmpty()
            ? s
            : ToxicCodec.type(t) + "_" + t.direction().name().toLowerCase(Locale.ROOT);
    if (proxy.toxics().get(name) != null) {
      return Reply.error(409, "toxic already exists");
    }
    proxy.toxics().add(name, t);
    return Reply.json(200, ToxicCodec.toJson(name, t));
  }

  /** {@code GET, POST/PATCH, DELETE /proxies/{proxy}/toxics/{toxic}}. */
  static Reply onToxic(TcpProxy proxy, String name, String method, String body) {
    Toxic t = proxy.toxics().get(name);
    if (t == null) {
      return Reply.error(404, "toxic not found");
    }
    return switch (method) {
      case "GET" -> Reply.json(200, ToxicCodec.toJson(name, t));
      case "DELETE" -> {
        proxy.toxics().remove(name);
        yield Reply.noContent();
      }
      default -> update(proxy, name, t, body);
    };
  }

  /**
   * Merges the attributes and toxicity given into the toxic's, as Toxiproxy does (its type and
   * stream stay), and installs the result in its place.
   */
  private static Reply update(TcpProxy proxy, String name, Toxic old, String body) {
    Map<?, ?> in;
    try {
      in = Json.object(body);
    } catch (IllegalArgumentException e) {
      return Reply.error(400, "bad request body: " + e.getMessage());
    }
    Map<Object, Object> attrs = new LinkedHashMap<>(ToxicCodec.attributes(old));
    Object given = in.get("attributes");
    if (given instanceof Map<?, ?> m) {
      attrs.putAll(m);
    } else if (given != null) {
      return Reply.error(400, "attributes: " + given + " (expected: an object)");
    }
    Toxic t;
    try {
      t =
          ToxicCodec.fromJson(
                  ToxicCodec.type(old),
                  old.direction().name().toLowerCase(Locale.ROOT),
                  in.containsKey("toxicity") ? in.get("toxicity") : old.toxicity(),
                  attrs)
              .schedule(old.schedule());
    } catch (IllegalArgumentException e) {
      return Reply.error(400, e.getMessage());
    }
    proxy.toxics().remove(name);
    proxy.toxics().add(name, t);
    return Reply.json(200, ToxicCodec.toJson(name, t));
  }
}
