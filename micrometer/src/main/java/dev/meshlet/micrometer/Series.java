package dev.meshlet.micrometer;

import dev.meshlet.core.Histogram;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.FunctionTimer;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Measurement;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tag;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.distribution.CountAtBucket;
import io.micrometer.core.instrument.distribution.HistogramGauges;
import io.micrometer.core.instrument.distribution.HistogramSnapshot;
import io.micrometer.core.instrument.distribution.HistogramSupport;
import io.micrometer.core.instrument.distribution.ValueAtPercentile;
import io.micrometer.core.instrument.util.DoubleFormat;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import java.util.function.ToDoubleFunction;

/**
 * One series of one family (a name and its tags) and the meters that read it in each registry: a
 * {@code FunctionCounter}, a {@code Gauge}, or for a histogram a {@code FunctionTimer} (count and
 * total) with one gauge per bucket ({@code <name>.buckets}, tag {@code le}, cumulative), made by
 * Micrometer's {@link HistogramGauges} as for its own timers; not its {@code .histogram} name,
 * which {@code promtool check metrics} rejects for naming a type.
 */
final class Series {
  enum Kind {
    COUNTER,
    GAUGE,
    HISTOGRAM
  }

  final String name;
  final String help;
  final Kind kind;
  final Tags tags;
  private final Scrape scrape;
  private final List<Meter> meters = new ArrayList<>();
  private volatile double value;
  private volatile Histogram histogram = Histogram.empty();

  /** Whether the last scrape wrote this series; one that is not written any more is removed. */
  boolean written;

  Series(Scrape scrape, Kind kind, String name, String help, String[] labels) {
    this.scrape = scrape;
    this.kind = kind;
    this.name = name;
    this.help = help;
    List<Tag> t = new ArrayList<>(labels.length / 2);
    for (int i = 0; i + 1 < labels.length; i += 2) {
      t.add(Tag.of(labels[i], labels[i + 1]));
    }
    this.tags = Tags.of(t);
  }

  void set(double v) {
    value = v;
  }

  void set(Histogram h) {
    histogram = h;
  }

  private static double value(Series s) {
    s.scrape.refresh();
    return s.value;
  }

  private static Histogram histogram(Series s) {
    s.scrape.refresh();
    return s.histogram;
  }

  /** Registers this series' meters in {@code registry}. */
  void register(MeterRegistry registry) {
    ToDoubleFunction<Series> read = Series::value;
    switch (kind) {
      case COUNTER ->
          meters.add(
              FunctionCounter.builder(name, this, read)
                  .tags(tags)
                  .description(help)
                  .register(registry));
      case GAUGE ->
          meters.add(
              Gauge.builder(name, this, read).tags(tags).description(help).register(registry));
      case HISTOGRAM -> {
        FunctionTimer timer =
            FunctionTimer.builder(
                    name,
                    this,
                    s -> histogram(s).count(),
                    s -> (double) histogram(s).sum().toNanos(),
                    TimeUnit.NANOSECONDS)
                .tags(tags)
                .description(help)
                .register(registry);
        meters.add(timer);
        TimeUnit unit = timer.baseTimeUnit();
        HistogramGauges.register(
            new Buckets(timer),
            registry,
            p -> name + ".percentile",
            p -> tags,
            p -> p.value(unit),
            b -> name + ".buckets",
            b ->
                tags.and(
                    "le",
                    Double.isInfinite(b.bucket())
                        ? "+Inf"
                        : DoubleFormat.wholeOrDecimal(b.bucket(unit))));
      }
    }
  }

  /** Removes this series' meters (and the bucket gauges Micrometer ties to the timer). */
  void remove(MeterRegistry registry) {
    for (Meter m : meters) {
      registry.remove(m);
    }
    meters.clear();
  }

  @Override
  public String toString() {
    return kind.name().toLowerCase(Locale.ROOT) + " " + name + tags;
  }

  /** The histogram as Micrometer's snapshot: cumulative counts at each bound, and +Inf. */
  private final class Buckets implements HistogramSupport {
    private final FunctionTimer timer;

    Buckets(FunctionTimer timer) {
      this.timer = timer;
    }

    @Override
    public Id getId() {
      return timer.getId();
    }

    @Override
    public Iterable<Measurement> measure() {
      return timer.measure();
    }

    @Override
    public HistogramSnapshot takeSnapshot() {
      Histogram h = histogram(Series.this);
      List<Duration> bounds = h.bounds();
      CountAtBucket[] counts = new CountAtBucket[bounds.size() + 1];
      long cumulative = 0;
      for (int i = 0; i < bounds.size(); i++) {
        cumulative += h.counts().get(i);
        counts[i] = new CountAtBucket((double) bounds.get(i).toNanos(), cumulative);
      }
      counts[bounds.size()] = new CountAtBucket(Double.POSITIVE_INFINITY, h.count());
      return new HistogramSnapshot(
          h.count(),
          (double) h.sum().toNanos(),
          0,
          new ValueAtPercentile[0],
          counts,
          (out, scale) -> {});
    }
  }
}
