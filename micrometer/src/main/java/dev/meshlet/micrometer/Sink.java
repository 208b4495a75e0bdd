package dev.meshlet.micrometer;

import dev.meshlet.core.Histogram;

/**
 * Where the families' writers put one scrape's samples, named as the admin endpoint's Prometheus
 * families ({@code meshlet_downstream_rq_total}); {@code labels} are name, value pairs.
 */
interface Sink {
  void counter(String name, String help, long value, String... labels);

  void gauge(String name, String help, double value, String... labels);

  /** A latency histogram with {@link Histogram#BOUNDS}' buckets. */
  void histogram(String name, String help, Histogram h, String... labels);
}
