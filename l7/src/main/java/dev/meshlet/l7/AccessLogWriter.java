package dev.meshlet.l7;

import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.eclipse.jetty.util.ajax.JSON;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Writes access log lines from a bounded queue on a thread of its own: whoever ends a request
 * (often a selector thread) only offers a line, and a full queue drops it, counted.
 */
final class AccessLogWriter implements AutoCloseable {
  static final Logger ACCESS_LOG = LoggerFactory.getLogger("dev.meshlet.l7.access");
  private static final System.Logger LOG = System.getLogger(AccessLogWriter.class.getName());

  /**
   * One request's line, formatted on the writer's thread.
   *
   * @param upstreamMicros time to the backend's response head; -1 when none was forwarded
   */
  record Line(
      Instant start,
      String client,
      String method,
      String path,
      int status,
      @Nullable String route,
      @Nullable String cluster,
      @Nullable String backend,
      long upstreamMicros,
      long totalMicros,
      long in,
      long out,
      int tries,
      List<String> faults,
      @Nullable String requestId,
      @Nullable String traceId,
      HttpProxyStats.@Nullable ErrorKind error) {}

  private static final char[] HEX = "0123456789ABCDEF".toCharArray();
  private final AccessLog.Format format;
  private final ArrayBlockingQueue<Line> queue;
  private final AtomicLong dropped;

  /** Set while lines are being dropped: the first drop of a run warns, the drain ends the run. */
  private final AtomicBoolean dropping = new AtomicBoolean();

  private final Thread thread;
  private volatile boolean closing;

  /** {@code dropped} counts the lines a full queue drops. */
  AccessLogWriter(AccessLog config, String name, AtomicLong dropped) {
    this.format = config.format();
    this.dropped = dropped;
    this.queue = new ArrayBlockingQueue<>(config.queueSize());
    // a platform thread: appenders often lock with synchronized, which would pin a carrier
    this.thread = Thread.ofPlatform().daemon().name(name).unstarted(this::run);
    thread.start();
  }

  /** Queues a line; a full queue drops it, counted, and warns once per run of drops. */
  void offer(Line line) {
    if (queue.offer(line)) {
      return;
    }
    long n = dropped.incrementAndGet();
    if (dropping.compareAndSet(false, true)) {
      LOG.log(
          System.Logger.Level.WARNING,
          "access log: "
              + queue.size()
              + " lines wait to be written (the queue's limit): lines are dropped until it"
              + " drains ("
              + n
              + " so far, counted in stats().accessLogDropped())");
    }
  }

  private void run() {
    while (true) {
      Line line;
      try {
        line = closing ? queue.poll() : queue.poll(50, TimeUnit.MILLISECONDS);
      } catch (InterruptedException e) {
        closing = true;
        continue;
      }
      if (line == null) {
        if (closing) {
          return;
        }
        continue;
      }
      write(line);
      if (queue.isEmpty() && dropping.compareAndSet(true, false)) {
        LOG.log(
            System.Logger.Level.INFO,
            "access log: the queue drained; " + dropped.get() + " lines dropped in all");
      }
    }
  }

  private void write(Line line) {
    try {
      ACCESS_LOG.info(format == AccessLog.Format.JSON ? json(line) : text(line));
    } catch (RuntimeException e) { // an appender's failure must not end the writer
      LOG.log(System.Logger.Level.WARNING, "access log: a line could not be written", e);
    }
  }

  static String text(Line l) {
    StringBuilder b = new StringBuilder(160);
    b.append(l.method()).append(' ').append(l.path()).append(' ').append(l.status());
    b.append(" route=").append(dash(l.route()));
    b.append(" cluster=").append(dash(l.cluster()));
    b.append(" backend=").append(dash(l.backend()));
    b.append(" upstream_us=").append(l.upstreamMicros());
    b.append(" total_us=").append(l.totalMicros());
    b.append(" in=").append(l.in()).append(" out=").append(l.out());
    b.append(" tries=").append(l.tries());
    b.append(" client=").append(l.client());
    b.append(" request_id=").append(dash(token(l.requestId())));
    b.append(" trace_id=").append(dash(l.traceId()));
    if (!l.faults().isEmpty()) {
      b.append(" faults=").append(String.join(",", l.faults()));
    }
    if (l.error() != null) {
      b.append(" error=").append(l.error());
    }
    return b.toString();
  }

  static String json(Line l) {
    Map<String, @Nullable Object> m = new LinkedHashMap<>();
    m.put("start_time", l.start().toString());
    m.put("client", l.client());
    m.put("method", l.method());
    m.put("path", l.path());
    m.put("status", l.status());
    m.put("route", l.route());
    m.put("cluster", l.cluster());
    m.put("backend", l.backend());
    m.put("upstream_us", l.upstreamMicros());
    m.put("total_us", l.totalMicros());
    m.put("bytes_in", l.in());
    m.put("bytes_out", l.out());
    m.put("tries", l.tries());
    m.put("faults", l.faults().toArray());
    m.put("request_id", l.requestId());
    m.put("trace_id", l.traceId());
    m.put("error", l.error() == null ? null : l.error().name());
    return new JSON().toJSON(m);
  }

  /**
   * A client's value as one token of a text line: spaces, quotes, controls and non-ASCII
   * percent-encoded, so that a crafted request id cannot forge fields.
   */
  static @Nullable String token(@Nullable String s) {
    if (s == null) {
      return null;
    }
    StringBuilder b = null;
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      boolean plain = c > ' ' && c < 0x7f && c != '"' && c != '%' && c != '=';
      if (!plain && b == null) {
        b = new StringBuilder(s.length() + 8).append(s, 0, i);
      }
      if (b != null) {
        if (plain) {
          b.append(c);
        } else {
          for (byte x : String.valueOf(c).getBytes(StandardCharsets.UTF_8)) {
            b.append('%').append(HEX[(x >> 4) & 0xF]).append(HEX[x & 0xF]);
          }
        }
      }
    }
    return b == null ? s : b.toString();
  }

  private static String dash(@Nullable String s) {
    return s == null ? "-" : s;
  }

  /**
   * Writes what is queued, then stops the thread; waits up to {@code timeoutMillis}. Not by
   * interrupting it: an interrupt in the middle of an appender's write closes a file channel.
   */
  void close(long timeoutMillis) {
    closing = true;
    try {
      thread.join(timeoutMillis);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  @Override
  public void close() {
    close(5_000);
  }
}
