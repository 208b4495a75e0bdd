package dev.meshlet.l7;

import dev.meshlet.core.Journal;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import org.jspecify.annotations.Nullable;

/**
 * The faults drawn for one request, and the state an exchange keeps while applying them. Built only
 * for routes that have faults: a route without any costs one array length check per request.
 */
final class FaultPlan {
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
   * Draws a route's faults ({@code route}, null for a route without any) for request number
   * {@code id}; null when none applies. Each applied fault is journaled with the
   * {@linkplain Journal#generation() generation} the request arrived in.
   */
  static @Nullable FaultPlan decide(@Nullable RouteFaults route, RequestHead head, long id, long seed,
      Journal<HttpEvent> journal, long generation) {
    if (route == null) {
      return null;
    }
    HttpFault[] faults = route.faults;
    FaultPlan plan = null;
    for (int i = 0; i < faults.length; i++) {
      HttpFault f = faults[i];
      String header = f.header();
      if (header != null && head.header(header) == null || !route.applies(i, seed)) {
        continue;
      }
      if (plan == null) {
        plan = new FaultPlan();
      }
      plan.add(f);
      journal.record(new HttpEvent.FaultApplied(id, route.route.name(), f, Instant.now()), generation);
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
}
