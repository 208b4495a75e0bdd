package dev.meshlet.l7;

import java.util.Objects;

/**
 * How an {@link HttpProxy} writes its access log ({@link HttpProxyBuilder#accessLog(AccessLog)}):
 * one line per request at INFO on the SLF4J logger {@code dev.meshlet.l7.access}, as text or as a
 * JSON object, written by a thread of its own from a bounded queue, so a slow appender never stalls
 * the network threads. When the queue is full, lines are dropped, counted in {@link
 * HttpProxyStats#accessLogDropped()} and the first of each run of drops warned about.
 *
 * <p>Each line carries the request's start time, client address, method, path and query, status,
 * route, cluster, backend, time to the backend's response head and total time (µs), bytes in and
 * out, tries, faults applied, X-Request-ID, trace id (from {@code traceparent}) and error kind.
 *
 * <pre>{@code
 * HttpProxy.builder().accessLog(AccessLog.json().withQueueSize(65_536))
 * }</pre>
 *
 * @param format text or JSON lines
 * @param queueSize the most lines waiting to be written; default 8192
 */
public record AccessLog(Format format, int queueSize) {

  /** The shape of a line. */
  public enum Format {
    /**
     * {@code POST /api/x?y=1 200 route=api cluster=api backend=b1 upstream_us=812 total_us=905 in=5
     * out=6 tries=1 client=127.0.0.1 request_id=… trace_id=… [faults=…] [error=…]}; a dash stands
     * for an absent value.
     */
    TEXT,
    /**
     * One JSON object per line: {@code start_time}, {@code client}, {@code method}, {@code path},
     * {@code status}, {@code route}, {@code cluster}, {@code backend}, {@code upstream_us}, {@code
     * total_us}, {@code bytes_in}, {@code bytes_out}, {@code tries}, {@code faults}, {@code
     * request_id}, {@code trace_id}, {@code error} (absent values are null).
     */
    JSON
  }

  /**
   * Checks the values.
   *
   * @throws IllegalArgumentException when {@code queueSize} is below 1
   */
  public AccessLog {
    Objects.requireNonNull(format, "format");
    if (queueSize < 1) {
      throw new IllegalArgumentException("queueSize: " + queueSize + " (expected: >= 1)");
    }
  }

  /** Text lines, 8192 queued at most. */
  public static AccessLog text() {
    return new AccessLog(Format.TEXT, 8192);
  }

  /** JSON lines, 8192 queued at most. */
  public static AccessLog json() {
    return new AccessLog(Format.JSON, 8192);
  }

  /** This log with at most {@code lines} waiting to be written. */
  public AccessLog withQueueSize(int lines) {
    return new AccessLog(format, lines);
  }
}
