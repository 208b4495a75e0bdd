package dev.meshlet.xds;

import dev.meshlet.core.Backend;
import io.envoyproxy.envoy.config.core.v3.SocketAddress;
import io.envoyproxy.envoy.config.endpoint.v3.ClusterLoadAssignment;
import io.envoyproxy.envoy.config.endpoint.v3.LbEndpoint;
import io.envoyproxy.envoy.config.endpoint.v3.LocalityLbEndpoints;
import java.util.ArrayList;
import java.util.List;

/**
 * Reads an EDS assignment (or a cluster's inline one) into backends: the endpoints of the best
 * (lowest) priority, with their weights, leaving out the ones the control plane marks UNHEALTHY,
 * DRAINING or TIMEOUT.
 */
final class EndpointDecoder {
  private EndpointDecoder() {}

  static List<Backend> backends(String where, ClusterLoadAssignment a) {
    int best = Integer.MAX_VALUE;
    for (LocalityLbEndpoints l : a.getEndpointsList()) {
      best = Math.min(best, l.getPriority());
    }
    List<Backend> out = new ArrayList<>();
    for (LocalityLbEndpoints l : a.getEndpointsList()) {
      if (l.getPriority() != best) {
        continue; // meshlet has no priority failover: the best priority is the whole cluster
      }
      for (LbEndpoint e : l.getLbEndpointsList()) {
        switch (e.getHealthStatus()) {
          case UNHEALTHY, DRAINING, TIMEOUT -> {
            continue;
          }
          default -> {}
        }
        out.add(backend(where, e));
      }
    }
    return out;
  }

  private static Backend backend(String where, LbEndpoint e) {
    if (!e.hasEndpoint()) {
      throw new IllegalArgumentException(where + "lb_endpoint without an endpoint");
    }
    if (!e.getEndpoint().getAddress().hasSocketAddress()) {
      throw new IllegalArgumentException(
          where + "endpoint address not supported (expected: a socket_address)");
    }
    SocketAddress s = e.getEndpoint().getAddress().getSocketAddress();
    if (s.getPortSpecifierCase() != SocketAddress.PortSpecifierCase.PORT_VALUE) {
      throw new IllegalArgumentException(
          where
              + "endpoint "
              + s.getAddress()
              + ": named_port not supported (expected: port_value)");
    }
    int weight = e.hasLoadBalancingWeight() ? e.getLoadBalancingWeight().getValue() : 1;
    try {
      return new Backend(s.getAddress(), s.getPortValue(), null, weight);
    } catch (IllegalArgumentException x) {
      throw new IllegalArgumentException(
          where + "endpoint " + s.getAddress() + ":" + s.getPortValue() + ": " + x.getMessage(), x);
    }
  }
}
