package dev.meshlet.admin;

import dev.meshlet.core.Histogram;
import dev.meshlet.l4.internal.MetricSink;
import java.util.LinkedHashMap;
import java.util.Map;
import org.jspecify.annotations.Nullable;

/**
 * Prometheus text format 0.0.4: samples collected by family in any order, written family by family
 * (the format wants a family's samples together, after its {@code # HELP} and {@code # TYPE}).
 */
final class PromText implements MetricSink {
  private static final class Family {
    final String help;
    final String type;
    final StringBuilder samples = new StringBuilder();

    Family(String help, String type) {
      this.help = help;
      this.type = type;
    }
  }

  private final Map<String, Family> families = new LinkedHashMap<>();

  /** A counter sample; {@code labels} are name, value pairs. */
  @Override
  public void counter(String name, String help, long value, String... labels) {
    sample(family(name, help, "counter"), name, labels, null, Long.toString(value));
  }

  /** A gauge sample; {@code labels} are name, value pairs. */
  @Override
  public void gauge(String name, String help, double value, String... labels) {
    sample(family(name, help, "gauge"), name, labels, null, number(value));
  }

  /** A histogram in milliseconds, as Envoy's: {@code _bucket{le}}, {@code _sum}, {@code _count}. */
  @Override
  public void histogram(String name, String help, Histogram h, String... labels) {
    Family f = family(name, help, "histogram");
    long cumulative = 0;
    for (int i = 0; i < h.bounds().size(); i++) {
      cumulative += h.counts().get(i);
      sample(
          f,
          name + "_bucket",
          labels,
          number(h.bounds().get(i).toNanos() / 1e6),
          Long.toString(cumulative));
    }
    sample(f, name + "_bucket", labels, "+Inf", Long.toString(h.count()));
    sample(f, name + "_sum", labels, null, number(h.sum().toNanos() / 1e6));
    sample(f, name + "_count", labels, null, Long.toString(h.count()));
  }

  private Family family(String name, String help, String type) {
    Family f = families.get(name);
    if (f == null) {
      f = new Family(help, type);
      families.put(name, f);
    }
    return f;
  }

  private static void sample(
      Family f, String name, String[] labels, @Nullable String le, String value) {
    StringBuilder b = f.samples;
    b.append(name);
    if (labels.length > 0 || le != null) {
      b.append('{');
      for (int i = 0; i + 1 < labels.length; i += 2) {
        if (i > 0) {
          b.append(',');
        }
        b.append(labels[i]).append("=\"");
        escapeLabel(b, labels[i + 1]);
        b.append('"');
      }
      if (le != null) {
        if (labels.length > 0) {
          b.append(',');
        }
        b.append("le=\"").append(le).append('"');
      }
      b.append('}');
    }
    b.append(' ').append(value).append('\n');
  }

  /** Label values escape backslash, double quote and line feed. */
  static void escapeLabel(StringBuilder b, String v) {
    for (int i = 0; i < v.length(); i++) {
      char c = v.charAt(i);
      switch (c) {
        case '\\' -> b.append("\\\\");
        case '"' -> b.append("\\\"");
        case '\n' -> b.append("\\n");
        default -> b.append(c);
      }
    }
  }

  /** A number as Prometheus reads it: whole numbers without a fraction. */
  static String number(double v) {
    if (v == Math.rint(v) && Math.abs(v) < 1e15) {
      return Long.toString((long) v);
    }
    return Double.toString(v);
  }

  /** The exposition: every family with its HELP and TYPE lines. */
  String text() {
    StringBuilder out = new StringBuilder();
    families.forEach(
        (name, f) -> {
          out.append("# HELP ").append(name).append(' ');
          for (int i = 0; i < f.help.length(); i++) {
            char c = f.help.charAt(i);
            out.append(c == '\\' ? "\\\\" : c == '\n' ? "\\n" : String.valueOf(c));
          }
          out.append('\n');
          out.append("# TYPE ").append(name).append(' ').append(f.type).append('\n');
          out.append(f.samples);
        });
    return out.toString();
  }
}
