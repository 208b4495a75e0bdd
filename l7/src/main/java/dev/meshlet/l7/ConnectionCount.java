package dev.meshlet.l7;

import java.nio.channels.SelectableChannel;
import java.util.concurrent.atomic.LongAdder;
import org.eclipse.jetty.io.SelectorManager;

/**
 * Counts the listener's client connections (Envoy's {@code downstream_cx_total} and {@code
 * downstream_cx_active}) where Jetty accepts and closes their sockets: once per TCP connection,
 * whatever runs on it (TLS, a PROXY header, HTTP, an upgraded tunnel), and never per request. The
 * connector's selector manager keeps the proxy's upstream connections from these calls.
 */
final class ConnectionCount implements SelectorManager.AcceptListener {
  private final LongAdder accepted = new LongAdder();
  private final LongAdder closed = new LongAdder();

  @Override
  public void onAccepted(SelectableChannel channel) {
    accepted.increment();
  }

  @Override
  public void onClosed(SelectableChannel channel) {
    closed.increment();
  }

  HttpProxyStats.Connections snapshot() {
    // closes first: every close counted was accepted before, so active is never negative
    long c = closed.sum();
    long a = accepted.sum();
    return new HttpProxyStats.Connections(a, Math.max(0, a - c), c);
  }
}
