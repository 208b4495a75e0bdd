package dev.meshlet.l7;

import dev.meshlet.core.internal.Mix;
import dev.meshlet.l4.internal.TunnelSplicer;
import dev.meshlet.l4.internal.Tunnels;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The L4 splicer of each route's upgraded connections, made when the route's first tunnel opens (or
 * its toxics are first asked for) and kept by route name, so its toxics and counts outlive a {@link
 * HttpProxy#replaceRoutes} that keeps the name.
 */
final class TunnelSplicers implements AutoCloseable {
  private final ConcurrentHashMap<String, TunnelSplicer> byRoute = new ConcurrentHashMap<>();
  private final long seed;
  private final String owner;
  private volatile boolean closed;

  TunnelSplicers(long seed, String owner) {
    this.seed = seed;
    this.owner = owner;
  }

  /**
   * The splicer of {@code route}'s tunnels, made with its {@link HttpRouteBuilder#tunnelToxic
   * tunnel toxics} the first time; each route draws from the proxy's seed mixed with its name.
   */
  TunnelSplicer of(HttpRoute route) {
    TunnelSplicer s = byRoute.get(route.name());
    if (s != null) {
      return s;
    }
    s =
        byRoute.computeIfAbsent(
            route.name(),
            n ->
                Tunnels.splicer(
                    owner + "-tunnel-" + n, Mix.mix(seed, n.hashCode(), 0), route.tunnelToxics()));
    if (closed) { // close() may have missed it: its tunnels end at once
      s.close();
    }
    return s;
  }

  @Override
  public void close() {
    closed = true;
    byRoute.values().forEach(TunnelSplicer::close);
  }
}
