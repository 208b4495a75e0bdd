package dev.meshlet.micrometer;

import dev.meshlet.core.Histogram;
import dev.meshlet.l4.internal.MetricSink;
import io.micrometer.core.instrument.MeterRegistry;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Consumer;

/**
 * The series of one bound proxy and the registries they are in. Meters read their value from the
 * last stats snapshot; a read finding it older than {@link #MAX_AGE_NANOS} takes a new one (so one
 * scrape of hundreds of meters reads the proxy's stats once), writes every family again, registers
 * the series that are new (a backend added by a live update, a status code seen for the first time:
 * they show from that scrape on, or the next, by when a registry looks at its meters) and removes
 * those that are gone.
 */
final class Scrape {
  /** How long one stats snapshot serves the meters read after it: longer than one scrape takes. */
  static final long MAX_AGE_NANOS = 100_000_000L;

  private final Consumer<MetricSink> writer;
  private final ReentrantLock lock = new ReentrantLock();
  private final Map<String, Series> series = new LinkedHashMap<>();
  private final List<MeterRegistry> registries = new CopyOnWriteArrayList<>();
  private long takenAt;
  private boolean taken;

  /** {@code writer} takes the proxy's stats once and writes every family's samples. */
  Scrape(Consumer<MetricSink> writer) {
    this.writer = writer;
  }

  /** Adds {@code registry}: every series now, and the new ones of later scrapes. */
  void bindTo(MeterRegistry registry) {
    Objects.requireNonNull(registry, "registry");
    lock.lock();
    try {
      if (registries.contains(registry)) {
        return;
      }
      registries.add(registry);
      if (!taken) {
        take();
      }
      for (Series s : series.values()) {
        s.register(registry);
      }
    } finally {
      lock.unlock();
    }
  }

  /** Takes a new snapshot if the last one is older than {@link #MAX_AGE_NANOS}. */
  void refresh() {
    lock.lock();
    try {
      if (System.nanoTime() - takenAt > MAX_AGE_NANOS) {
        take();
      }
    } finally {
      lock.unlock();
    }
  }

  /** The series there are now, by name and tags (for tests). */
  List<String> names() {
    lock.lock();
    try {
      return new ArrayList<>(series.keySet());
    } finally {
      lock.unlock();
    }
  }

  private void take() {
    for (Series s : series.values()) {
      s.written = false;
    }
    List<Series> added = new ArrayList<>();
    writer.accept(
        new MetricSink() {
          @Override
          public void counter(String name, String help, long value, String... labels) {
            series(Series.Kind.COUNTER, name, help, labels, added).set(value);
          }

          @Override
          public void gauge(String name, String help, double value, String... labels) {
            series(Series.Kind.GAUGE, name, help, labels, added).set(value);
          }

          @Override
          public void histogram(String name, String help, Histogram h, String... labels) {
            series(Series.Kind.HISTOGRAM, name, help, labels, added).set(h);
          }
        });
    takenAt = System.nanoTime();
    taken = true;
    for (Iterator<Series> it = series.values().iterator(); it.hasNext(); ) {
      Series s = it.next();
      if (!s.written) {
        for (MeterRegistry r : registries) {
          s.remove(r);
        }
        it.remove();
      }
    }
    for (Series s : added) {
      for (MeterRegistry r : registries) {
        s.register(r);
      }
    }
  }

  private Series series(
      Series.Kind kind, String promName, String help, String[] labels, List<Series> added) {
    String key = promName + Arrays.toString(labels);
    Series s = series.get(key);
    if (s == null) {
      s = new Series(this, kind, dotted(promName), help, labels);
      series.put(key, s);
      added.add(s);
    }
    s.written = true;
    return s;
  }

  /**
   * Micrometer's name for a Prometheus family: dots for underscores ({@code
   * meshlet.upstream.rq.total}); Micrometer's Prometheus naming turns it back into the admin
   * endpoint's name.
   */
  static String dotted(String promName) {
    return promName.replace('_', '.');
  }
}
