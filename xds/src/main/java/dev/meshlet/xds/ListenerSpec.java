package dev.meshlet.xds;

import io.envoyproxy.envoy.config.route.v3.RouteConfiguration;
import java.time.Duration;
import org.jspecify.annotations.Nullable;

/** One LDS listener as meshlet runs it: an HTTP proxy or a TCP proxy on an address. */
sealed interface ListenerSpec {
  String name();

  String host();

  int port();

  /** Whether a proxy running {@code this} must be restarted to run {@code next}. */
  default boolean needsRestart(ListenerSpec next) {
    return next.getClass() != getClass() || !next.host().equals(host()) || next.port() != port();
  }

  /**
   * An HTTP connection manager: routes from RDS ({@code rds} names them) or inline.
   *
   * @param rds the route configuration to subscribe to, or null with {@code inline}
   * @param inline the route configuration in the listener, or null with {@code rds}
   */
  record Http(
      String name, String host, int port, @Nullable String rds, @Nullable RouteConfiguration inline)
      implements ListenerSpec {}

  /**
   * A TCP proxy to one cluster.
   *
   * @param idleTimeout the tcp_proxy's idle_timeout, or null for meshlet's default
   */
  record Tcp(String name, String host, int port, String cluster, @Nullable Duration idleTimeout)
      implements ListenerSpec {}
}
