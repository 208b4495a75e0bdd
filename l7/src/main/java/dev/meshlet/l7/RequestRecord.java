package dev.meshlet.l7;

import dev.meshlet.core.Backend;
import org.eclipse.jetty.client.Request;

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

  RequestRecord(Ledger ledger, long id, long generation) {
    this.ledger = ledger;
    this.id = id;
    this.generation = generation;
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
