package dev.meshlet.micrometer;

import dev.meshlet.l4.TcpProxy;
import dev.meshlet.l4.internal.TcpFamilies;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.binder.MeterBinder;
import java.util.List;
import java.util.Objects;

/**
 * Puts a {@link TcpProxy}'s metrics in a Micrometer {@link MeterRegistry}: the families of the
 * admin endpoint's {@code /stats/prometheus}, with dots for underscores ({@code
 * meshlet.downstream.cx.total} with tag {@code listener}, {@code meshlet.endpoint.healthy} with
 * tags {@code listener}, {@code cluster}, {@code backend}), so a Prometheus registry writes the
 * admin endpoint's names.
 *
 * <pre>{@code
 * new TcpProxyMetrics("db", proxy).bindTo(registry);
 * }</pre>
 *
 * <p>Meters read the proxy's stats when the registry reads them (one snapshot serves every meter
 * read within 100 ms, so a scrape reads the stats once); the proxy does no work per connection for
 * them. Counters are {@code FunctionCounter}s, gauges {@code Gauge}s, and each latency histogram a
 * {@code FunctionTimer} (count and total, in the registry's time unit) with a gauge per bucket,
 * {@code <name>.buckets} tagged {@code le} (the bucket's bound in that unit, or {@code +Inf}),
 * counting cumulatively as Prometheus's {@code _bucket} series do; the buckets are {@link
 * dev.meshlet.core.Histogram#BOUNDS}.
 *
 * <p>Series that appear later (a backend added to the cluster by a live update) are registered when
 * a read takes the snapshot that first shows them, so they are in the scrape after that one at the
 * latest; series that are gone (a removed backend) are removed from the registry the same way.
 */
public final class TcpProxyMetrics implements MeterBinder {
  private final Scrape scrape;

  /**
   * A binder for {@code proxy}, whose meters carry {@code listener} as their {@code listener} tag
   * (the name the admin endpoint registers it under).
   */
  public TcpProxyMetrics(String listener, TcpProxy proxy) {
    Objects.requireNonNull(listener, "listener");
    Objects.requireNonNull(proxy, "proxy");
    this.scrape = new Scrape(sink -> TcpFamilies.write(sink, listener, proxy));
  }

  /**
   * Registers the proxy's meters in {@code registry}; binding one registry twice does nothing, and
   * a binder may be bound to several registries.
   */
  @Override
  public void bindTo(MeterRegistry registry) {
    scrape.bindTo(registry);
  }

  /** The series bound now, by name and labels (for tests and diagnostics). */
  List<String> series() {
    return scrape.names();
  }
}
