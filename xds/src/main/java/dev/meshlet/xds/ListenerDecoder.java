package dev.meshlet.xds;

import com.google.protobuf.Any;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Message;
import io.envoyproxy.envoy.config.core.v3.SocketAddress;
import io.envoyproxy.envoy.config.listener.v3.Filter;
import io.envoyproxy.envoy.config.listener.v3.FilterChain;
import io.envoyproxy.envoy.config.listener.v3.Listener;
import io.envoyproxy.envoy.extensions.filters.http.router.v3.Router;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter;
import io.envoyproxy.envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy;
import java.time.Duration;

/**
 * Reads an LDS listener: one filter chain (without a match) whose only network filter is the HTTP
 * connection manager, with the router as its only HTTP filter, or the TCP proxy to one cluster.
 */
final class ListenerDecoder {
  private ListenerDecoder() {}

  static ListenerSpec decode(Listener l) {
    String name = l.getName();
    if (name.isEmpty()) {
      throw new IllegalArgumentException("listener: no name");
    }
    String where = "listener " + name + ": ";
    if (!l.getAddress().hasSocketAddress()) {
      throw new IllegalArgumentException(where + "address: expected a socket_address");
    }
    SocketAddress a = l.getAddress().getSocketAddress();
    if (a.getPortSpecifierCase() != SocketAddress.PortSpecifierCase.PORT_VALUE) {
      throw new IllegalArgumentException(where + "address: expected a port_value");
    }
    String host = a.getAddress().isEmpty() ? "0.0.0.0" : a.getAddress();
    int port = a.getPortValue();
    if (port < 0 || port > 65535) {
      throw new IllegalArgumentException(where + "port: " + port + " (expected: 0-65535)");
    }
    if (l.getListenerFiltersCount() > 0) {
      throw new IllegalArgumentException(
          where + "listener filter " + l.getListenerFilters(0).getName() + " not supported");
    }
    int chains = l.getFilterChainsCount() + (l.hasDefaultFilterChain() ? 1 : 0);
    if (chains != 1) {
      throw new IllegalArgumentException(where + chains + " filter chains (expected: 1)");
    }
    FilterChain chain =
        l.getFilterChainsCount() == 1 ? l.getFilterChains(0) : l.getDefaultFilterChain();
    if (chain.hasFilterChainMatch() || chain.hasTransportSocket()) {
      throw new IllegalArgumentException(
          where + "filter_chain_match and transport_socket (TLS) not supported");
    }
    if (chain.getFiltersCount() != 1) {
      throw new IllegalArgumentException(
          where
              + chain.getFiltersCount()
              + " network filters (expected: 1, http_connection_manager or tcp_proxy)");
    }
    Filter f = chain.getFilters(0);
    Any config = f.getTypedConfig();
    if (config.is(HttpConnectionManager.class)) {
      return http(where, name, host, port, unpack(where, config, HttpConnectionManager.class));
    }
    if (config.is(TcpProxy.class)) {
      TcpProxy t = unpack(where, config, TcpProxy.class);
      if (t.getClusterSpecifierCase() != TcpProxy.ClusterSpecifierCase.CLUSTER) {
        throw new IllegalArgumentException(
            where
                + "tcp_proxy "
                + t.getClusterSpecifierCase()
                + " not supported (expected: cluster)");
      }
      Duration idle =
          t.hasIdleTimeout() && !Durations.of(t.getIdleTimeout()).isZero()
              ? Durations.of(t.getIdleTimeout())
              : null;
      return new ListenerSpec.Tcp(name, host, port, t.getCluster(), idle);
    }
    throw new IllegalArgumentException(
        where
            + "unknown filter "
            + f.getName()
            + " ("
            + config.getTypeUrl()
            + "; expected: http_connection_manager or tcp_proxy)");
  }

  private static ListenerSpec http(
      String where, String name, String host, int port, HttpConnectionManager hcm) {
    if (hcm.getHttpFiltersCount() != 1
        || !hcm.getHttpFilters(0).getTypedConfig().is(Router.class)) {
      for (HttpFilter h : hcm.getHttpFiltersList()) {
        if (!h.getTypedConfig().is(Router.class)) {
          throw new IllegalArgumentException(
              where + "unknown http filter " + h.getName() + " (expected: only the router)");
        }
      }
      throw new IllegalArgumentException(where + "http_filters: expected exactly the router");
    }
    return switch (hcm.getRouteSpecifierCase()) {
      case RDS -> {
        String rds = hcm.getRds().getRouteConfigName();
        if (rds.isEmpty()) {
          throw new IllegalArgumentException(where + "rds: no route_config_name");
        }
        yield new ListenerSpec.Http(name, host, port, rds, null);
      }
      case ROUTE_CONFIG -> new ListenerSpec.Http(name, host, port, null, hcm.getRouteConfig());
      default ->
          throw new IllegalArgumentException(
              where
                  + hcm.getRouteSpecifierCase()
                  + " not supported (expected: rds or route_config)");
    };
  }

  static <T extends Message> T unpack(String where, Any any, Class<T> type) {
    try {
      return any.unpack(type);
    } catch (InvalidProtocolBufferException e) {
      throw new IllegalArgumentException(
          where + "cannot read " + any.getTypeUrl() + ": " + e.getMessage(), e);
    }
  }
}
