package dev.meshlet.l7;

import dev.meshlet.core.Schedule;
import java.time.Duration;
import java.util.Objects;
import org.jspecify.annotations.Nullable;

/**
 * A fault an {@link HttpProxy} injects into the requests of a route, in the manner of Envoy's fault
 * filter: for a share of requests (its {@linkplain #toxicity() toxicity}, 0 to 1), optionally only
 * those carrying a header, optionally on a {@link Schedule}.
 *
 * <pre>{@code
 * HttpProxy.builder().listen(0)
 *     .route(r -> r.pathPrefix("/pay/").to(payments)
 *         .fault(HttpFault.abort(503).toxicity(0.1))                        // 10% get 503
 *         .fault(HttpFault.delay(Duration.ofMillis(300)).whenHeader("x-slow")))
 *     .seed(42)
 *     .start();
 * }</pre>
 *
 * <p>An abort of a gRPC call (content type {@code application/grpc}) is answered the way gRPC
 * clients read: HTTP 200 with the status in {@code grpc-status} (an abort of HTTP 503 as 14
 * UNAVAILABLE, see {@link HttpProxy}), or {@link #grpcAbort(int)}'s code.
 *
 * <p>Each fault of a route is drawn independently for each request, from the proxy's {@linkplain
 * HttpProxy#seed() seeded} random source: the same seed and the same sequence of requests give the
 * same faults. An abort answers at once and reaches no backend; the other faults shape a forwarded
 * exchange. Delays and pacing use the proxy's scheduler: no thread waits.
 */
public sealed interface HttpFault {

  /**
   * The probability that this fault applies to a (header-matching, scheduled) request, 0 to 1: the
   * same unit as the L4 toxics' {@code toxicity} (Toxiproxy's), so 0.3 is 30% of requests.
   */
  double toxicity();

  /** The request header that must be present for the fault to apply, or null for every request. */
  @Nullable String header();

  /** Which requests, counted from when the proxy started, the fault may apply to. */
  Schedule schedule();

  /** Answers with {@code status} without forwarding the request (Envoy's abort). */
  static Abort abort(int status) {
    return new Abort(status, 1, null, Schedule.always());
  }

  /**
   * Answers a gRPC call with gRPC status {@code code} (1 to 16, e.g. 14 UNAVAILABLE) without
   * forwarding it, as Envoy's abort with {@code grpc_status}: a Trailers-Only response (HTTP 200,
   * {@code content-type: application/grpc}, {@code grpc-status: code}, {@code grpc-message: fault
   * injected}) and no body, whatever the request's content type.
   */
  static GrpcAbort grpcAbort(int code) {
    return new GrpcAbort(code, 1, null, Schedule.always());
  }

  /** Holds the request for {@code delay} before forwarding it (Envoy's fixed delay). */
  static Delay delay(Duration delay) {
    return new Delay(delay, 1, null, Schedule.always());
  }

  /**
   * Holds the backend's response (head and body) for {@code delay} before the client gets any of
   * it.
   */
  static ResponseDelay responseDelay(Duration delay) {
    return new ResponseDelay(delay, 1, null, Schedule.always());
  }

  /**
   * Forwards the response head and the first {@code bytes} bytes of its body, then resets the
   * client connection (the backend exchange is aborted too).
   */
  static AbortBody abortBody(long bytes) {
    return new AbortBody(bytes, 1, null, Schedule.always());
  }

  /** Paces the response body to {@code kibPerSecond} KiB (1024 bytes) per second. */
  static SlowBody slowBody(long kibPerSecond) {
    return new SlowBody(kibPerSecond, 1, null, Schedule.always());
  }

  /**
   * This fault applied with probability {@code toxicity}, 0 to 1 (default 1, every request): the
   * unit of the L4 toxics' {@code toxicity}; {@code 0.25} is a quarter of requests.
   */
  default HttpFault toxicity(double toxicity) {
    return with(toxicity, header(), schedule());
  }

  /** This fault only for requests that carry header {@code name} (any value). */
  default HttpFault whenHeader(String name) {
    Objects.requireNonNull(name, "name");
    if (name.isBlank()) {
      throw new IllegalArgumentException(
          "whenHeader: blank (expected: a header name such as x-fault)");
    }
    return with(toxicity(), name, schedule());
  }

  /** This fault only for the requests {@code schedule} admits. */
  default HttpFault schedule(Schedule schedule) {
    return with(toxicity(), header(), Objects.requireNonNull(schedule, "schedule"));
  }

  private HttpFault with(double p, @Nullable String h, Schedule s) {
    return switch (this) {
      case Abort x -> new Abort(x.status, p, h, s);
      case GrpcAbort x -> new GrpcAbort(x.code, p, h, s);
      case Delay x -> new Delay(x.delay, p, h, s);
      case ResponseDelay x -> new ResponseDelay(x.delay, p, h, s);
      case AbortBody x -> new AbortBody(x.bytes, p, h, s);
      case SlowBody x -> new SlowBody(x.kibPerSecond, p, h, s);
    };
  }

  /**
   * An immediate answer. See {@link HttpFault#abort(int)}.
   *
   * @param status the status, 200 to 599
   * @param toxicity probability per request, 0 to 1
   * @param header required request header, or null
   * @param schedule which requests
   */
  record Abort(int status, double toxicity, @Nullable String header, Schedule schedule)
      implements HttpFault {
    /** Validates the parameters. */
    public Abort {
      if (status < 200 || status > 599) {
        throw new IllegalArgumentException("abort status: " + status + " (expected: 200-599)");
      }
      FaultChecks.common(toxicity, schedule);
    }
  }

  /**
   * An immediate gRPC status. See {@link HttpFault#grpcAbort(int)}.
   *
   * @param code the gRPC status code, 1 to 16
   * @param toxicity probability per request, 0 to 1
   * @param header required request header, or null
   * @param schedule which requests
   */
  record GrpcAbort(int code, double toxicity, @Nullable String header, Schedule schedule)
      implements HttpFault {
    /** Validates the parameters. */
    public GrpcAbort {
      if (code < 1 || code > 16) {
        throw new IllegalArgumentException("grpcAbort code: " + code + " (expected: 1-16)");
      }
      FaultChecks.common(toxicity, schedule);
    }
  }

  /**
   * A delay before forwarding. See {@link HttpFault#delay(Duration)}.
   *
   * @param delay how long, at least 0
   * @param toxicity probability per request, 0 to 1
   * @param header required request header, or null
   * @param schedule which requests
   */
  record Delay(Duration delay, double toxicity, @Nullable String header, Schedule schedule)
      implements HttpFault {
    /** Validates the parameters. */
    public Delay {
      FaultChecks.notNegative("delay", delay);
      FaultChecks.common(toxicity, schedule);
    }
  }

  /**
   * A delay of the response. See {@link HttpFault#responseDelay(Duration)}.
   *
   * @param delay how long, at least 0
   * @param toxicity probability per request, 0 to 1
   * @param header required request header, or null
   * @param schedule which requests
   */
  record ResponseDelay(Duration delay, double toxicity, @Nullable String header, Schedule schedule)
      implements HttpFault {
    /** Validates the parameters. */
    public ResponseDelay {
      FaultChecks.notNegative("responseDelay", delay);
      FaultChecks.common(toxicity, schedule);
    }
  }

  /**
   * A reset mid-body. See {@link HttpFault#abortBody(long)}.
   *
   * @param bytes body bytes the client gets before the reset, at least 0
   * @param toxicity probability per request, 0 to 1
   * @param header required request header, or null
   * @param schedule which requests
   */
  record AbortBody(long bytes, double toxicity, @Nullable String header, Schedule schedule)
      implements HttpFault {
    /** Validates the parameters. */
    public AbortBody {
      if (bytes < 0) {
        throw new IllegalArgumentException("abortBody: " + bytes + " bytes (expected: >= 0)");
      }
      FaultChecks.common(toxicity, schedule);
    }
  }

  /**
   * A slow response body. See {@link HttpFault#slowBody(long)}.
   *
   * @param kibPerSecond the rate in KiB/s, at least 1
   * @param toxicity probability per request, 0 to 1
   * @param header required request header, or null
   * @param schedule which requests
   */
  record SlowBody(long kibPerSecond, double toxicity, @Nullable String header, Schedule schedule)
      implements HttpFault {
    /** Validates the parameters. */
    public SlowBody {
      if (kibPerSecond < 1) {
        throw new IllegalArgumentException("slowBody: " + kibPerSecond + " KiB/s (expected: >= 1)");
      }
      FaultChecks.common(toxicity, schedule);
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

  static void common(double toxicity, Schedule schedule) {
    Objects.requireNonNull(schedule, "schedule");
    if (!(toxicity >= 0 && toxicity <= 1)) {
      throw new IllegalArgumentException("toxicity: " + toxicity + " (expected: 0 to 1)");
    }
  }
}
