package dev.meshlet.l7;

import java.util.concurrent.atomic.AtomicBoolean;
import org.eclipse.jetty.server.Connector;
import org.eclipse.jetty.server.NetworkConnectionLimit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Jetty's limit on open client connections, counted in the stats and logged the first time it is
 * hit.
 */
final class ConnectionCap extends NetworkConnectionLimit {
  private static final Logger LOG = LoggerFactory.getLogger(HttpProxy.class);

  private final Counters total;
  private final AtomicBoolean logged = new AtomicBoolean();

  ConnectionCap(int max, Counters total, Connector connector) {
    super(max, connector);
    this.total = total;
  }

  @Override
  protected void limit() {
    super.limit();
    total.error(HttpProxyStats.ErrorKind.CONNECTION_LIMIT);
    if (logged.compareAndSet(false, true)) {
      LOG.warn(
          "{} client connections open: not accepting more until one closes (maxConnections; logged once)",
          getMaxNetworkConnectionCount());
    }
  }
}
