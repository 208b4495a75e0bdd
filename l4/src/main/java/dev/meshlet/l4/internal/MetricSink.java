package dev.meshlet.l4.internal;

import dev.meshlet.core.Histogram;

/**
 * Where the metric family writers put one scrape's samples, named as Prometheus families ({@code
 * meshlet_downstream_rq_total}); {@code labels} are name, value pairs. The admin endpoint writes
 * them as Prometheus text, the Micrometer binders as meters: one list of families for both.
 */
public interface MetricSink {
  /** A counter sample. */
  void counter(String name, String help, long value, String... labels);

  /** A gauge sample. */
  void gauge(String name, String help, double value, String... labels);

  /** A latency histogram with {@link Histogram#BOUNDS}' buckets. */
  void histogram(String name, String help, Histogram h, String... labels);
}
