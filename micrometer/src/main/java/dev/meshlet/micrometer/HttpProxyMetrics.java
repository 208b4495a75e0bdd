package dev.meshlet.micrometer;

import dev.meshlet.l7.HttpProxy;
import dev.meshlet.l7.internal.HttpFamilies;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.binder.MeterBinder;
import java.util.List;
import java.util.Objects;

/**
 * Puts an {@link HttpProxy}'s metrics in a Micrometer {@link MeterRegistry}: the families of the
 * admin endpoint's {@code /stats/prometheus}, with dots for underscores ({@code
 * meshlet.downstream.rq.total}, {@code meshlet.upstream.rq.total} with tags {@code listener},
 * {@code cluster}, {@code backend}), so a Prometheus registry writes the admin endpoint's names.
 *
 * <pre>{@code
 * new HttpProxyMetrics("web", proxy).bindTo(registry);
 * }</pre>
 *
 * <p>Meters read the proxy's stats when the registry reads them (one snapshot serves every meter
 * read within 100 ms, so a scrape reads the stats once); the proxy does no work per request for
 * them. Counters are {@code FunctionCounter}s, gauges {@code Gauge}s, and each latency histogram a
 * {@code FunctionTimer} (count and total, in the registry's time unit) with a gauge per bucket,
 * {@code <name>.buckets} tagged {@code le} (the bucket's bound in that unit, or {@code +Inf}),
 * counting cumulatively as Prometheus's {@code _bucket} series do; the buckets are {@link
 * dev.meshlet.core.Histogram#BOUNDS}.
 *
 * <p>Series that appear later (a backend added by a live update or {@code replaceRoutes}, a status
 * code or error kind seen for the first time) are registered when a read takes the snapshot that
 * first shows them, so they are in the scrape after that one at the latest; series that are gone (a
 * removed backend) are removed from the registry the same way.
 */
public final class HttpProxyMetrics implements MeterBinder {
  private final Scrape scrape;

  /**
   * A binder for {@code proxy}, whose meters carry {@code listener} as their {@code listener} tag
   * (the name the admin endpoint registers it under).
   */
  public HttpProxyMetrics(String listener, HttpProxy proxy) {
    Objects.requireNonNull(listener, "listener");
    Objects.requireNonNull(proxy, "proxy");
    this.scrape = new Scrape(sink -> HttpFamilies.write(sink, listener, proxy.stats()));
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
