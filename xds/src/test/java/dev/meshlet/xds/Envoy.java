package dev.meshlet.xds;

import com.google.protobuf.Any;
import com.google.protobuf.Duration;
import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.core.v3.Address;
import io.envoyproxy.envoy.config.core.v3.AggregatedConfigSource;
import io.envoyproxy.envoy.config.core.v3.ConfigSource;
import io.envoyproxy.envoy.config.core.v3.SocketAddress;
import io.envoyproxy.envoy.config.endpoint.v3.ClusterLoadAssignment;
import io.envoyproxy.envoy.config.endpoint.v3.Endpoint;
import io.envoyproxy.envoy.config.endpoint.v3.LbEndpoint;
import io.envoyproxy.envoy.config.endpoint.v3.LocalityLbEndpoints;
import io.envoyproxy.envoy.config.listener.v3.Filter;
import io.envoyproxy.envoy.config.listener.v3.FilterChain;
import io.envoyproxy.envoy.config.listener.v3.Listener;
import io.envoyproxy.envoy.config.route.v3.Route;
import io.envoyproxy.envoy.config.route.v3.RouteAction;
import io.envoyproxy.envoy.config.route.v3.RouteConfiguration;
import io.envoyproxy.envoy.config.route.v3.RouteMatch;
import io.envoyproxy.envoy.config.route.v3.VirtualHost;
import io.envoyproxy.envoy.extensions.filters.http.router.v3.Router;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.Rds;
import io.envoyproxy.envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy;

/** Envoy v3 resources as a control plane writes them, for the tests. */
final class Envoy {
  private Envoy() {}

  static final ConfigSource ADS =
      ConfigSource.newBuilder().setAds(AggregatedConfigSource.getDefaultInstance()).build();

  static Address address(String host, int port) {
    return Address.newBuilder()
        .setSocketAddress(SocketAddress.newBuilder().setAddress(host).setPortValue(port))
        .build();
  }

  static Cluster edsCluster(String name) {
    return Cluster.newBuilder()
        .setName(name)
        .setType(Cluster.DiscoveryType.EDS)
        .setConnectTimeout(Duration.newBuilder().setSeconds(1))
        .setEdsClusterConfig(Cluster.EdsClusterConfig.newBuilder().setEdsConfig(ADS))
        .build();
  }

  static Cluster staticCluster(String name, int... ports) {
    return Cluster.newBuilder()
        .setName(name)
        .setType(Cluster.DiscoveryType.STATIC)
        .setLoadAssignment(assignment(name, ports))
        .build();
  }

  static ClusterLoadAssignment assignment(String cluster, int... ports) {
    LocalityLbEndpoints.Builder l = LocalityLbEndpoints.newBuilder();
    for (int port : ports) {
      l.addLbEndpoints(
          LbEndpoint.newBuilder()
              .setEndpoint(Endpoint.newBuilder().setAddress(address("127.0.0.1", port))));
    }
    return ClusterLoadAssignment.newBuilder().setClusterName(cluster).addEndpoints(l).build();
  }

  static HttpConnectionManager.Builder hcm() {
    return HttpConnectionManager.newBuilder()
        .setStatPrefix("ingress")
        .addHttpFilters(
            HttpFilter.newBuilder()
                .setName("envoy.filters.http.router")
                .setTypedConfig(Any.pack(Router.getDefaultInstance())));
  }

  static Listener listener(String name, com.google.protobuf.Message filter, String filterName) {
    return Listener.newBuilder()
        .setName(name)
        .setAddress(address("127.0.0.1", 0))
        .addFilterChains(
            FilterChain.newBuilder()
                .addFilters(
                    Filter.newBuilder().setName(filterName).setTypedConfig(Any.pack(filter))))
        .build();
  }

  static Listener httpListener(String name, String rds) {
    return listener(
        name,
        hcm().setRds(Rds.newBuilder().setRouteConfigName(rds).setConfigSource(ADS)).build(),
        "envoy.filters.network.http_connection_manager");
  }

  static Listener tcpListener(String name, String cluster) {
    return listener(
        name,
        TcpProxy.newBuilder().setStatPrefix("tcp").setCluster(cluster).build(),
        "envoy.filters.network.tcp_proxy");
  }

  static Route prefixRoute(String name, String prefix, String cluster) {
    return Route.newBuilder()
        .setName(name)
        .setMatch(RouteMatch.newBuilder().setPrefix(prefix))
        .setRoute(RouteAction.newBuilder().setCluster(cluster))
        .build();
  }

  static RouteConfiguration routes(String name, Route... routes) {
    VirtualHost.Builder vh = VirtualHost.newBuilder().setName("all").addDomains("*");
    for (Route r : routes) {
      vh.addRoutes(r);
    }
    return RouteConfiguration.newBuilder().setName(name).addVirtualHosts(vh).build();
  }
}
