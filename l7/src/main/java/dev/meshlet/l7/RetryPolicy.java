package dev.meshlet.l7;

import dev.meshlet.core.internal.Checks;
import java.time.Duration;
import java.util.Arrays;
import java.util.Objects;
import java.util.Set;
import java.util.TreeSet;

/**
 * When and how an {@link HttpProxy} retries a request on another backend: for a whole proxy ({@link
 * HttpProxyBuilder#retryPolicy(RetryPolicy)}) or one route ({@link
 * HttpRouteBuilder#retryPolicy(RetryPolicy)}).
 *
 * <pre>{@code
 * RetryPolicy retries = RetryPolicy.builder()
 *     .maxAttempts(3)                                   // the first try and two retries
 *     .perTryTimeout(Duration.ofSeconds(2))
 *     .backoff(Duration.ofMillis(25), Duration.ofMillis(250))
 *     .retryOnStatus(429)                               // besides 502, 503, 504
 *     .retryOnGrpcStatus(14)                            // gRPC UNAVAILABLE, Trailers-Only
 *     .build();
 * }</pre>
 *
 * <p>A request is retried after a connect failure, a reset or close before any response byte, a
 * per-try timeout, a response status in {@code retryOn} (502, 503 and 504 by default) or a gRPC
 * status in {@code retryOnGrpc} in a response head, and only while nothing of the response has been
 * sent to the client. A retry prefers a backend other than the one that failed, waits an
 * exponential backoff with full jitter, and is refused when the retry budget is spent (then the
 * client gets the failure as it is).
 *
 * <p>Only what is safe is retried. A request body is replayed from a bounded buffer: with a policy
 * that retries, a body of at most {@code replayBufferBytes} is read whole before the first try; a
 * larger one is streamed and is not retried by the policy. Idempotent methods (GET, HEAD, OPTIONS,
 * PUT, DELETE, TRACE) are retried; other methods too, because their body is replayable, unless
 * {@code idempotentOnly}. Without a policy nothing is buffered and nothing is retried, except a
 * request that failed on a reused pooled connection the backend had closed before answering (the
 * keep-alive race of RFC 9112 §9.3.1): it is retried at once on a fresh connection, up to twice,
 * when its method is idempotent or none of it had been written (a POST the backend may have
 * received whole is never sent twice on the proxy's own initiative), and when what was sent of a
 * streamed body is at most 64 KiB (that much is kept and sent again, then the rest).
 *
 * @param maxAttempts tries in all, the first included; 1 means no retries. Default 3
 * @param perTryTimeout how long one try may wait for the response to begin; zero means the route's
 *     or proxy's response timeout. Default zero
 * @param backoffBase the first retry waits a random time up to this; each further retry doubles it.
 *     Default 25 ms
 * @param backoffMax the cap on the backoff. Default 250 ms
 * @param retryOn response statuses that are retried. Default 502, 503, 504
 * @param replayBufferBytes the largest request body buffered for replay; 0 buffers none (then only
 *     bodiless requests are retried). Default 64 KiB
 * @param idempotentOnly retry only idempotent methods, even when their body is replayable. Default
 *     false
 * @param budgetPercent retries in flight to a cluster may be at most this percentage of the
 *     requests in flight to it (Envoy's retry budget)… Default 20
 * @param minRetries …or this many, whichever is more. Default 3
 * @param retryOnGrpc gRPC status codes that are retried when a response head carries them (a
 *     Trailers-Only response), as Envoy's {@code retry_on} {@code cancelled} (1), {@code
 *     deadline-exceeded} (4), {@code resource-exhausted} (8), {@code internal} (13) and {@code
 *     unavailable} (14). A status that comes in the trailers of a response whose head and messages
 *     were forwarded is never retried: the client has part of the answer. Default none
 */
public record RetryPolicy(
    int maxAttempts,
    Duration perTryTimeout,
    Duration backoffBase,
    Duration backoffMax,
    Set<Integer> retryOn,
    int replayBufferBytes,
    boolean idempotentOnly,
    int budgetPercent,
    int minRetries,
    Set<Integer> retryOnGrpc) {

  private static final RetryPolicy NONE = builder().maxAttempts(1).replayBuffer(0).build();

  /** Validates the ranges given in the record description and copies {@code retryOn}. */
  public RetryPolicy {
    if (maxAttempts < 1 || maxAttempts > 10) {
      throw new IllegalArgumentException("maxAttempts: " + maxAttempts + " (expected: 1-10)");
    }
    Checks.notNegative("perTryTimeout", perTryTimeout);
    Checks.notNegative("backoffBase", backoffBase);
    Checks.notNegative("backoffMax", backoffMax);
    if (backoffMax.compareTo(backoffBase) < 0) {
      throw new IllegalArgumentException(
          "backoffMax: " + backoffMax + " (expected: >= backoffBase " + backoffBase + ")");
    }
    for (Integer s : Objects.requireNonNull(retryOn, "retryOn")) {
      if (s == null || s < 100 || s > 599) {
        throw new IllegalArgumentException("retryOn status: " + s + " (expected: 100-599)");
      }
    }
    retryOn = Set.copyOf(retryOn);
    if (replayBufferBytes < 0 || replayBufferBytes > 64 << 20) {
      throw new IllegalArgumentException(
          "replayBufferBytes: " + replayBufferBytes + " (expected: 0-67108864)");
    }
    if (budgetPercent < 0 || budgetPercent > 100) {
      throw new IllegalArgumentException("budgetPercent: " + budgetPercent + " (expected: 0-100)");
    }
    for (Integer c : Objects.requireNonNull(retryOnGrpc, "retryOnGrpc")) {
      if (c == null || c < 1 || c > 16) {
        throw new IllegalArgumentException("retryOnGrpc status: " + c + " (expected: 1-16)");
      }
    }
    retryOnGrpc = Set.copyOf(retryOnGrpc);
    if (minRetries < 0) {
      throw new IllegalArgumentException("minRetries: " + minRetries + " (expected: >= 0)");
    }
  }

  /** No retries and no body buffering: the proxy's default. */
  public static RetryPolicy none() {
    return NONE;
  }

  /** Starts a builder with the defaults listed in the record description. */
  public static Builder builder() {
    return new Builder();
  }

  /** A builder holding this policy's settings, to derive a variant. */
  public Builder toBuilder() {
    Builder b = new Builder();
    b.maxAttempts = maxAttempts;
    b.perTryTimeout = perTryTimeout;
    b.backoffBase = backoffBase;
    b.backoffMax = backoffMax;
    b.retryOn = new TreeSet<>(retryOn);
    b.replayBufferBytes = replayBufferBytes;
    b.idempotentOnly = idempotentOnly;
    b.budgetPercent = budgetPercent;
    b.minRetries = minRetries;
    b.retryOnGrpc = new TreeSet<>(retryOnGrpc);
    return b;
  }

  /** Whether this policy ever retries on its own (not counting the stale-connection retry). */
  boolean retries() {
    return maxAttempts > 1;
  }

  /** Whether a response of {@code status} is retried by this policy. */
  boolean retriesStatus(int status) {
    return retries() && retryOn.contains(status);
  }

  /** Whether a response head carrying gRPC status {@code code} is retried by this policy. */
  boolean retriesGrpc(int code) {
    return retries() && retryOnGrpc.contains(code);
  }

  /**
   * Whether a request of {@code method} may be tried again after {@code triesMade} tries (the
   * budget aside).
   */
  boolean allowsAnother(int triesMade, String method) {
    return triesMade + 1 < maxAttempts && (!idempotentOnly || idempotent(method));
  }

  /**
   * The backoff before retry number {@code retry} (1, 2, …): uniform in [0, min(max,
   * base·2^(retry-1))].
   */
  long backoffNanos(int retry, long random) {
    long base = backoffBase.toNanos();
    if (base == 0) {
      return 0;
    }
    long cap = Math.min(backoffMax.toNanos(), base << Math.min(20, retry - 1));
    return Math.floorMod(random, cap + 1);
  }

  /** Whether {@code method} is idempotent by RFC 9110 §9.2.2. */
  static boolean idempotent(String method) {
    return switch (method) {
      case "GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE" -> true;
      default -> false;
    };
  }

  /** Collects a {@link RetryPolicy}; defaults are in the record description. */
  public static final class Builder {
    private int maxAttempts = 3;
    private Duration perTryTimeout = Duration.ZERO;
    private Duration backoffBase = Duration.ofMillis(25);
    private Duration backoffMax = Duration.ofMillis(250);
    private Set<Integer> retryOn = new TreeSet<>(Arrays.asList(502, 503, 504));
    private int replayBufferBytes = 64 * 1024;
    private boolean idempotentOnly;
    private int budgetPercent = 20;
    private int minRetries = 3;
    private Set<Integer> retryOnGrpc = new TreeSet<>();

    private Builder() {}

    /** Tries in all, the first included (1-10); default 3. */
    public Builder maxAttempts(int n) {
      this.maxAttempts = n;
      return this;
    }

    /** How long one try may wait for its response to begin; default zero (the response timeout). */
    public Builder perTryTimeout(Duration d) {
      this.perTryTimeout = d;
      return this;
    }

    /**
     * Exponential backoff with full jitter between {@code base} and {@code max}; default 25 ms, 250
     * ms.
     */
    public Builder backoff(Duration base, Duration max) {
      this.backoffBase = base;
      this.backoffMax = max;
      return this;
    }

    /** Also retries these response statuses (502, 503 and 504 are retried by default). */
    public Builder retryOnStatus(int... statuses) {
      for (int s : statuses) {
        retryOn.add(s);
      }
      return this;
    }

    /** Retries exactly these response statuses (none when empty). */
    public Builder retryOnStatusOnly(int... statuses) {
      retryOn = new TreeSet<>();
      return retryOnStatus(statuses);
    }

    /**
     * Also retries a response whose head carries one of these gRPC status codes (1-16): a
     * Trailers-Only response, as a gRPC server sends for a call it fails before any message. None
     * by default. Envoy's {@code retry_on} names: {@code cancelled} 1, {@code deadline-exceeded} 4,
     * {@code resource-exhausted} 8, {@code internal} 13, {@code unavailable} 14. A status in the
     * trailers that end a streamed response is not retried (its head and messages were forwarded).
     */
    public Builder retryOnGrpcStatus(int... codes) {
      for (int c : codes) {
        retryOnGrpc.add(c);
      }
      return this;
    }

    /** The largest request body buffered for replay, in bytes; default 65536; 0 buffers none. */
    public Builder replayBuffer(int bytes) {
      this.replayBufferBytes = bytes;
      return this;
    }

    /** Retries only idempotent methods (GET, HEAD, OPTIONS, PUT, DELETE, TRACE); default false. */
    public Builder idempotentOnly(boolean on) {
      this.idempotentOnly = on;
      return this;
    }

    /**
     * The retry budget, counted per cluster: retries in flight to a cluster at most {@code percent}
     * of the requests in flight to it, or {@code min}, whichever is more; default 20 %, 3.
     */
    public Builder budget(int percent, int min) {
      this.budgetPercent = percent;
      this.minRetries = min;
      return this;
    }

    /** Validates and builds the policy. */
    public RetryPolicy build() {
      return new RetryPolicy(
          maxAttempts,
          perTryTimeout,
          backoffBase,
          backoffMax,
          retryOn,
          replayBufferBytes,
          idempotentOnly,
          budgetPercent,
          minRetries,
          retryOnGrpc);
    }
  }
}
