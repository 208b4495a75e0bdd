package dev.meshlet.l7;

import dev.meshlet.core.Backend;
import org.eclipse.jetty.client.Request;
import org.jspecify.annotations.Nullable;

/**
 * One request's place in the {@link Ledger}: its number, the journal generation it arrived in and
 * how many tries it has sent, so an exchange and its tries write to the journal without carrying
 * those around.
 */
final class RequestRecord {
  private final Ledger ledger;

  /** The request's number, from 1 in arrival order, for the journal and the fault draws. */
  final long id;

  /** The journal's generation when the request arrived: nothing of it is kept after a clear. */
  final long generation;

  /** The tries sent so far; tries of one request are sent one after another. */
  private volatile int tries;

  /** The X-Request-ID the request went with (the client's, or one made for it); null before. */
  volatile @Nullable String requestId;

  /** Whether {@link #requestId} was made by the proxy, to be sent again on every try. */
  volatile boolean requestIdMade;

  /** The trace id of the request's {@code traceparent}; null when it has no valid one. */
  volatile @Nullable String traceId;

  /** The {@code traceparent} the proxy made for the request, sent again on every try. */
  volatile @Nullable String traceparentMade;

  RequestRecord(Ledger ledger, long id, long generation) {
    this.ledger = ledger;
    this.id = id;
    this.generation = generation;
  }

  /** The tries sent so far. */
  int tries() {
    return tries;
  }

  /** Journals the faults {@code plan} applies to this request of {@code route}. */
  void faultsApplied(HttpRoute route, FaultPlan plan) {
    ledger.faultsApplied(id, generation, route, plan);
  }

  /** Journals a try's request as it goes to {@code backend}, when headers are kept. */
  void forwarded(Backend backend, Request proxyRequest) {
    int n = tries + 1;
    tries = n;
    ledger.forwarded(this, n, backend, proxyRequest);
  }
}
