package dev.meshlet.l7;

import dev.meshlet.testkit.Await;

/** Waits until a proxy has no request in flight, so that its counters are final. */
final class Idle {
  private Idle() {}

  /**
   * A client can read a response before the proxy finished its bookkeeping for it (counters update
   * when the last write completed); after this returns, every counter is final.
   */
  static HttpProxy await(HttpProxy proxy) {
    Await.until("no request in flight", () -> proxy.stats().total().inFlight() == 0);
    return proxy;
  }
}
