package dev.meshlet.l7;

import dev.meshlet.core.Schedule;
import java.time.Duration;
import java.util.Objects;
import org.jspecify.annotations.Nullable;

/**
 * A fault an {@link HttpProxy} injects into the requests of a route, in the manner of Envoy's fault
 * filter: for a percentage of requests, optionally only those carrying a header, optionally on a
 * {@link Schedule}.
 *
 * <pre>{@code
 * HttpProxy.builder().listen(0)
 *     .route(r -> r.pathPrefix("/pay/").to(payments)
 *         .fault(HttpFault.abort(503).percentage(10))                       // 10% get 503
 *         .fault(HttpFault.delay(Duration.ofMillis(300)).whenHeader("x-slow")))
 *     .seed(42)
 *     .start();
 * }</pre>
 *
 * <p>Each fault of a route is drawn independently for each request, from the proxy's
 * {@linkplain HttpProxy#seed() seeded} random source: the same seed and the same sequence of requests
 * give the same faults. An abort answers at once and reaches no backend; the other faults shape a
 * forwarded exchange. Delays and pacing use the proxy's scheduler: no thread waits.
 */
public sealed interface HttpFault {

  /** The share of (header-matching, scheduled) requests this fault applies to, 0 to 100. */
  double percentage();

  /** The request header that must be present for the fault to apply, or null for every request. */
  @Nullable String header();

  /** Which requests, counted from when the proxy started, the fault may apply to. */
  Schedule schedule();

  /** Answers with {@code status} without forwarding the request (Envoy's abort). */
  static Abort abort(int status) {
    return new Abort(status, 100, null, Schedule.always());
  }

  /** Holds the request for {@code delay} before forwarding it (Envoy's fixed delay). */
  static Delay delay(Duration delay) {
    return new Delay(delay, 100, null, Schedule.always());
  }

  /** Holds the backend's response (head and body) for {@code delay} before the client gets any of it. */
  static ResponseDelay responseDelay(Duration delay) {
    return new ResponseDelay(delay, 100, null, Schedule.always());
  }

  /**
   * Forwards the response head and the first {@code bytes} bytes of its body, then resets the client
   * connection (the backend exchange is aborted too).
   */
  static AbortBody abortBody(long bytes) {
    return new AbortBody(bytes, 100, null, Schedule.always());
  }

  /** Paces the response body to {@code kibPerSecond} KiB (1024 bytes) per second. */
  static SlowBody slowBody(long kibPerSecond) {
    return new SlowBody(kibPerSecond, 100, null, Schedule.always());
  }

  /** This fault for {@code percentage} percent of requests (0 to 100; default 100). */
  default HttpFault percentage(double percentage) {
    return with(percentage, header(), schedule());
  }

  /** This fault only for requests that carry header {@code name} (any value). */
  default HttpFault whenHeader(String name) {
    Objects.requireNonNull(name, "name");
    if (name.isBlank()) {
      throw new IllegalArgumentException("whenHeader: blank (expected: a header name such as x-fault)");
    }
    return with(percentage(), name, schedule());
  }

  /** This fault only for the requests {@code schedule} admits. */
  default HttpFault schedule(Schedule schedule) {
    return with(percentage(), header(), Objects.requireNonNull(schedule, "schedule"));
  }

  private HttpFault with(double p, @Nullable String h, Schedule s) {
    return switch (this) {
      case Abort x -> new Abort(x.status, p, h, s);
      case Delay x -> new Delay(x.delay, p, h, s);
      case ResponseDelay x -> new ResponseDelay(x.delay, p, h, s);
      case AbortBody x -> new AbortBody(x.bytes, p, h, s);
      case SlowBody x -> new SlowBody(x.kibPerSecond, p, h, s);
    };
  }

  /**
   * An immediate answer. See {@link HttpFault#abort(int)}.
   *
   * @param status     the status, 200 to 599
   * @param percentage share of requests, 0 to 100
   * @param header     required request header, or null
   * @param schedule   which requests
   */
  record Abort(int status, double percentage, @Nullable String header, Schedule schedule) implements HttpFault {
    /** Validates the parameters. */
    public Abort {
      if (status < 200 || status > 599) {
        throw new IllegalArgumentException("abort status: " + status + " (expected: 200-599)");
      }
      FaultChecks.common(percentage, schedule);
    }
  }

  /**
   * A delay before forwarding. See {@link HttpFault#delay(Duration)}.
   *
   * @param delay      how long, at least 0
   * @param percentage share of requests, 0 to 100
   * @param header     required request header, or null
   * @param schedule   which requests
   */
  record Delay(Duration delay, double percentage, @Nullable String header, Schedule schedule) implements HttpFault {
    /** Validates the parameters. */
    public Delay {
      FaultChecks.notNegative("delay", delay);
      FaultChecks.common(percentage, schedule);
    }
  }

  /**
   * A delay of the response. See {@link HttpFault#responseDelay(Duration)}.
   *
   * @param delay      how long, at least 0
   * @param percentage share of requests, 0 to 100
   * @param header     required request header, or null
   * @param schedule   which requests
   */
  record ResponseDelay(Duration delay, double percentage, @Nullable String header, Schedule schedule)
      implements HttpFault {
    /** Validates the parameters. */
    public ResponseDelay {
      FaultChecks.notNegative("responseDelay", delay);
      FaultChecks.common(percentage, schedule);
    }
  }

  /**
   * A reset mid-body. See {@link HttpFault#abortBody(long)}.
   *
   * @param bytes      body bytes the client gets before the reset, at least 0
   * @param percentage share of requests, 0 to 100
   * @param header     required request header, or null
   * @param schedule   which requests
   */
  record AbortBody(long bytes, double percentage, @Nullable String header, Schedule schedule) implements HttpFault {
    /** Validates the parameters. */
    public AbortBody {
      if (bytes < 0) {
        throw new IllegalArgumentException("abortBody: " + bytes + " bytes (expected: >= 0)");
      }
      FaultChecks.common(percentage, schedule);
    }
  }

  /**
   * A slow response body. See {@link HttpFault#slowBody(long)}.
   *
   * @param kibPerSecond the rate in KiB/s, at least 1
   * @param percentage   share of requests, 0 to 100
   * @param header       required request header, or null
   * @param schedule     which requests
   */
  record SlowBody(long kibPerSecond, double percentage, @Nullable String header, Schedule schedule)
      implements HttpFault {
    /** Validates the parameters. */
    public SlowBody {
      if (kibPerSecond < 1) {
        throw new IllegalArgumentException("slowBody: " + kibPerSecond + " KiB/s (expected: >= 1)");
      }
      FaultChecks.common(percentage, schedule);
    }
  }
}

/** Argument checks shared by the fault records. */
final class FaultChecks {
  private FaultChecks() {}

  static void notNegative(String what, Duration d) {
    Objects.requireNonNull(d, what);
    if (d.isNegative()) {
      throw new IllegalArgumentException(what + ": " + d + " (expected: >= 0)");
    }
  }

  static void common(double percentage, Schedule schedule) {
    Objects.requireNonNull(schedule, "schedule");
    if (!(percentage >= 0 && percentage <= 100)) {
      throw new IllegalArgumentException("percentage: " + percentage + " (expected: 0 to 100)");
    }
  }
}
