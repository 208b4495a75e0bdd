package dev.meshlet.l7;

import dev.meshlet.core.Journal;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import org.eclipse.jetty.server.Request;
import org.jspecify.annotations.Nullable;

/**
 * The faults drawn for one request, and the state an exchange keeps while applying them. Built only
 * for routes that have faults: a route without any costs one array length check per request.
 */
final class FaultPlan {
  private static final long GOLDEN = 0x9E3779B97F4A7C15L;

  /** 0: no abort. */
  int abortStatus;
  /** Consumed by the first send. */
  long requestDelayNanos;
  /** Consumed by the first write to the client. */
  long responseDelayNanos;
  /** Body bytes the client gets before the reset; -1: no reset. */
  long abortAfter = -1;
  /** 0: unpaced. */
  long bytesPerSecond;
  long bodyWritten;
  long nextWriteNanos;
  final List<String> kinds = new ArrayList<>(2);

  /**
   * Draws {@code route}'s faults for request number {@code id}; null when none applies. Each applied
   * fault is journaled with the {@linkplain Journal#generation() generation} the request arrived in.
   */
  static @Nullable FaultPlan decide(HttpRoute route, Request request, long id, long seed, Journal<HttpEvent> journal,
      long generation) {
    HttpFault[] faults = route.faults;
    if (faults.length == 0) {
      return null;
    }
    FaultPlan plan = null;
    for (int i = 0; i < faults.length; i++) {
      HttpFault f = faults[i];
      String header = f.header();
      if (header != null && !request.getHeaders().contains(header)) {
        continue;
      }
      long ordinal = route.faultCandidates[i].incrementAndGet();
      if (!f.schedule().admits(ordinal, Duration.ofNanos(System.nanoTime() - route.createdNanos))) {
        continue;
      }
      double draw = unit(mix(mix(seed ^ mix(route.faultKeys[i] + GOLDEN)) + ordinal * GOLDEN));
      if (!(draw < f.toxicity())) {
        continue;
      }
      if (plan == null) {
        plan = new FaultPlan();
      }
      plan.add(f);
      journal.record(new HttpEvent.FaultApplied(id, route.name(), f, Instant.now()), generation);
    }
    return plan;
  }

  private void add(HttpFault f) {
    kinds.add(f.getClass().getSimpleName());
    switch (f) {
      case HttpFault.Abort a -> {
        if (abortStatus == 0) {
          abortStatus = a.status();
        }
      }
      case HttpFault.Delay d -> requestDelayNanos += d.delay().toNanos();
      case HttpFault.ResponseDelay d -> responseDelayNanos += d.delay().toNanos();
      case HttpFault.AbortBody a -> abortAfter = abortAfter < 0 ? a.bytes() : Math.min(abortAfter, a.bytes());
      case HttpFault.SlowBody s -> {
        long rate = s.kibPerSecond() * 1024;
        bytesPerSecond = bytesPerSecond == 0 ? rate : Math.min(bytesPerSecond, rate);
      }
    }
  }

  /** Whether the response body needs the shaped (paced, limited or delayed) write path. */
  boolean shapesResponse() {
    return responseDelayNanos > 0 || abortAfter >= 0 || bytesPerSecond > 0;
  }

  private static long mix(long z) {
    z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
    z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
    return z ^ (z >>> 31);
  }

  private static double unit(long x) {
    return (x >>> 11) * 0x1.0p-53;
  }
}
