package dev.meshlet.admin;

import java.util.Map;
import org.eclipse.jetty.util.ajax.JSON;
import org.jspecify.annotations.Nullable;

/** Parses request bodies with Jetty's {@link JSON} and reads their fields with clear errors. */
final class Json {
  private Json() {}

  /** Parses {@code body}; any problem becomes an {@link IllegalArgumentException} saying what. */
  static @Nullable Object parse(String body) {
    if (body.isBlank()) {
      throw new IllegalArgumentException("empty body (expected: JSON)");
    }
    try {
      return new JSON().fromJSON(body);
    } catch (RuntimeException e) {
      throw new IllegalArgumentException(
          "malformed JSON (" + (e.getMessage() == null ? e.toString() : e.getMessage()) + ")", e);
    }
  }

  static Map<?, ?> object(String body) {
    Object o = parse(body);
    if (o instanceof Map<?, ?> m) {
      return m;
    }
    throw new IllegalArgumentException("expected a JSON object, got: " + abbreviate(body));
  }

  static Object[] array(String body) {
    Object o = parse(body);
    if (o instanceof Object[] a) {
      return a;
    }
    throw new IllegalArgumentException("expected a JSON array, got: " + abbreviate(body));
  }

  /** A string field; "" when absent. */
  static String string(Map<?, ?> m, String field) {
    Object v = m.get(field);
    if (v == null) {
      return "";
    }
    if (v instanceof String s) {
      return s;
    }
    throw new IllegalArgumentException(field + ": " + v + " (expected: a string)");
  }

  static boolean bool(Map<?, ?> m, String field, boolean otherwise) {
    Object v = m.get(field);
    if (v == null) {
      return otherwise;
    }
    if (v instanceof Boolean b) {
      return b;
    }
    throw new IllegalArgumentException(field + ": " + v + " (expected: true or false)");
  }

  private static String abbreviate(String s) {
    String t = s.strip();
    return t.length() > 60 ? t.substring(0, 60) + "..." : t;
  }
}
