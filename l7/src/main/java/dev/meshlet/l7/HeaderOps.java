package dev.meshlet.l7;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import org.eclipse.jetty.http.HttpField;
import org.eclipse.jetty.http.HttpFields;

/**
 * An immutable, ordered list of header edits: add, set, remove (a trailing {@code *} removes by
 * prefix).
 */
record HeaderOps(List<Op> ops) {
  static final HeaderOps NONE = new HeaderOps(List.of());

  enum Kind {
    ADD,
    SET,
    REMOVE
  }

  record Op(Kind kind, String name, String lowerName, boolean prefix, String value) {}

  HeaderOps {
    ops = List.copyOf(ops);
  }

  boolean isEmpty() {
    return ops.isEmpty();
  }

  void apply(HttpFields.Mutable fields) {
    for (int i = 0; i < ops.size(); i++) {
      Op op = ops.get(i);
      switch (op.kind()) {
        case ADD -> fields.add(op.name(), op.value());
        case SET -> fields.put(op.name(), op.value());
        case REMOVE -> remove(fields, op);
      }
    }
  }

  /**
   * For trailers: removes every field these edits name (removed, added or set ones alike), so that
   * a trailer can neither bring back a removed header nor override one the proxy sets.
   */
  void removeNamed(HttpFields.Mutable fields) {
    for (int i = 0; i < ops.size(); i++) {
      remove(fields, ops.get(i));
    }
  }

  /**
   * Removes the field {@code op} names, or every field with its prefix for {@code X-Internal-*}.
   */
  private static void remove(HttpFields.Mutable fields, Op op) {
    if (op.prefix()) {
      for (Iterator<HttpField> it = fields.iterator(); it.hasNext(); ) {
        if (it.next().getLowerCaseName().startsWith(op.lowerName())) {
          it.remove();
        }
      }
    } else {
      fields.remove(op.name());
    }
  }

  /** Collects header edits for a builder; validates names and values as they come. */
  static final class Collector {
    private final String what;
    private final List<Op> ops = new ArrayList<>();

    Collector(String what) {
      this.what = what;
    }

    void add(Kind kind, String name, String value) {
      Objects.requireNonNull(name, "name");
      Objects.requireNonNull(value, "value");
      checkName(name, false);
      checkValue(name, value);
      ops.add(new Op(kind, name, name.toLowerCase(Locale.ROOT), false, value));
    }

    void remove(String name) {
      Objects.requireNonNull(name, "name");
      boolean prefix = name.endsWith("*");
      String base = prefix ? name.substring(0, name.length() - 1) : name;
      checkName(base, prefix);
      ops.add(new Op(Kind.REMOVE, base, base.toLowerCase(Locale.ROOT), prefix, ""));
    }

    HeaderOps build() {
      return ops.isEmpty() ? NONE : new HeaderOps(ops);
    }

    private void checkName(String name, boolean prefix) {
      if (name.isEmpty() && !prefix) {
        throw new IllegalArgumentException(
            what + " header name: empty (expected: a token such as X-Trace)");
      }
      for (int i = 0; i < name.length(); i++) {
        if (!Rfc.isTokenChar(name.charAt(i))) {
          throw new IllegalArgumentException(
              what
                  + " header name '"
                  + name
                  + "': invalid character at index "
                  + i
                  + " (expected: an RFC 9110 token, optionally ending in * to match a prefix)");
        }
      }
    }

    private void checkValue(String name, String value) {
      for (int i = 0; i < value.length(); i++) {
        char c = value.charAt(i);
        if (c == '\r' || c == '\n' || c == 0 || c > 0xFF) {
          throw new IllegalArgumentException(
              what
                  + " header "
                  + name
                  + ": value has an illegal character at index "
                  + i
                  + " (expected: no CR, LF, NUL or non-Latin-1 characters)");
        }
      }
    }
  }
}
