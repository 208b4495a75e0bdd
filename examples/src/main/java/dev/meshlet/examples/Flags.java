package dev.meshlet.examples;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.jspecify.annotations.Nullable;

/**
 * Flags in the order given; each consumed flag is checked off, and {@link #done()} rejects
 * leftovers.
 */
final class Flags {
  record Flag(String name, String value) {}

  private final List<Flag> flags = new ArrayList<>();
  private final List<Flag> used = new ArrayList<>();

  /**
   * Flags given without a value: an error once asked for, or an unknown flag if never asked for.
   */
  private final List<String> valueless = new ArrayList<>();

  /**
   * Reads {@code --flag value} and {@code --flag=value}; a flag in neither {@code valued} nor
   * {@code switches} (the flags that take no value) is named as unknown here, before any check of
   * the flags that are known.
   */
  Flags(List<String> args, Set<String> valued, Set<String> switches) {
    for (int i = 0; i < args.size(); i++) {
      String a = args.get(i);
      if (!a.startsWith("--")) {
        throw new UsageException("unexpected argument '" + a + "'");
      }
      int eq = a.indexOf('=');
      String inline = eq < 0 ? null : a.substring(eq + 1);
      if (eq >= 0) {
        a = a.substring(0, eq);
      }
      if (!valued.contains(a) && !switches.contains(a)) {
        throw new UsageException("unknown flag " + a);
      }
      if (switches.contains(a)) {
        if (inline != null) {
          throw new UsageException(a + " takes no value (got '" + inline + "')");
        }
        flags.add(new Flag(a, "true"));
      } else if (inline != null) {
        if (inline.isEmpty()) {
          valueless.add(a);
        } else {
          flags.add(new Flag(a, inline));
        }
      } else if (i + 1 < args.size() && !args.get(i + 1).startsWith("--")) {
        flags.add(new Flag(a, args.get(++i)));
      } else {
        valueless.add(a);
      }
    }
  }

  /** {@code more} and {@code names}: a mode's flags with those it shares with another. */
  static Set<String> union(Set<String> more, String... names) {
    Set<String> all = new HashSet<>(more);
    all.addAll(List.of(names));
    return Set.copyOf(all);
  }

  String required(String name) {
    String v = optional(name);
    if (v == null) {
      throw new UsageException("missing " + name);
    }
    return v;
  }

  @Nullable String optional(String name) {
    List<String> all = all(name);
    if (all.size() > 1) {
      throw new UsageException(name + " given " + all.size() + " times (expected: once)");
    }
    return all.isEmpty() ? null : all.get(0);
  }

  String optionalOr(String name, String fallback) {
    String v = optional(name);
    return v == null ? fallback : v;
  }

  boolean flag(String name) {
    return optional(name) != null;
  }

  List<String> all(String name) {
    if (valueless.contains(name)) {
      throw new UsageException(name + ": missing value");
    }
    List<String> values = new ArrayList<>();
    for (Flag f : flags) {
      if (f.name().equals(name)) {
        values.add(f.value());
        used.add(f);
      }
    }
    return values;
  }

  List<Flag> inOrder(String... names) {
    for (String name : names) {
      if (valueless.contains(name)) {
        throw new UsageException(name + ": missing value");
      }
    }
    List<Flag> out = new ArrayList<>();
    for (Flag f : flags) {
      if (List.of(names).contains(f.name())) {
        out.add(f);
        used.add(f);
      }
    }
    return out;
  }

  void done() {
    if (!valueless.isEmpty()) { // a known flag without its value failed when it was asked for
      throw new UsageException("unknown flag " + valueless.get(0));
    }
    for (Flag f : flags) {
      if (!used.contains(f)) {
        throw new UsageException("unknown flag " + f.name());
      }
    }
  }
}
