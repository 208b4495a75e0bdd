package dev.meshlet.xds;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.protobuf.Any;
import com.google.protobuf.Duration;
import com.google.protobuf.UInt32Value;
import dev.meshlet.core.Backend;
import dev.meshlet.core.Balancer;
import io.envoyproxy.envoy.config.cluster.v3.CircuitBreakers;
import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.cluster.v3.OutlierDetection;
import io.envoyproxy.envoy.config.core.v3.HealthStatus;
import io.envoyproxy.envoy.config.core.v3.TransportSocket;
import io.envoyproxy.envoy.config.endpoint.v3.ClusterLoadAssignment;
import io.envoyproxy.envoy.config.endpoint.v3.Endpoint;
import io.envoyproxy.envoy.config.endpoint.v3.LbEndpoint;
import io.envoyproxy.envoy.config.endpoint.v3.LocalityLbEndpoints;
import io.envoyproxy.envoy.config.listener.v3.FilterChain;
import io.envoyproxy.envoy.config.listener.v3.Listener;
import io.envoyproxy.envoy.extensions.filters.http.cors.v3.Cors;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** How CDS clusters, EDS assignments and LDS listeners map, and what is refused. */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class ResourceDecoderTest {

  @Test
  void lbPoliciesMapOntoMeshletBalancers() {
    Cluster base = Envoy.edsCluster("c");
    assertThat(ClusterDecoder.decode(base).balancer()).isSameAs(Balancer.weightedRoundRobin());
    assertThat(
            ClusterDecoder.decode(
                    base.toBuilder().setLbPolicy(Cluster.LbPolicy.LEAST_REQUEST).build())
                .balancer())
        .isSameAs(Balancer.leastConnections());
    assertThat(
            ClusterDecoder.decode(base.toBuilder().setLbPolicy(Cluster.LbPolicy.RANDOM).build())
                .balancer())
        .isSameAs(Balancer.random());
    assertThat(
            ClusterDecoder.decode(base.toBuilder().setLbPolicy(Cluster.LbPolicy.MAGLEV).build())
                .balancer())
        .isSameAs(Balancer.consistentHash());
    assertThatThrownBy(
            () ->
                ClusterDecoder.decode(
                    base.toBuilder().setLbPolicy(Cluster.LbPolicy.CLUSTER_PROVIDED).build()))
        .hasMessageStartingWith("cluster c: lb_policy CLUSTER_PROVIDED not supported");
  }

  @Test
  void circuitBreakersOutlierDetectionAndHealthChecksMap() {
    Cluster c =
        Envoy.edsCluster("c").toBuilder()
            .setCircuitBreakers(
                CircuitBreakers.newBuilder()
                    .addThresholds(
                        CircuitBreakers.Thresholds.newBuilder()
                            .setMaxRequests(UInt32Value.of(100))
                            .setMaxPendingRequests(UInt32Value.of(10))))
            .setOutlierDetection(
                OutlierDetection.newBuilder()
                    .setConsecutive5Xx(UInt32Value.of(3))
                    .setBaseEjectionTime(Duration.newBuilder().setSeconds(10))
                    .setMaxEjectionPercent(UInt32Value.of(50)))
            .addHealthChecks(
                io.envoyproxy.envoy.config.core.v3.HealthCheck.newBuilder()
                    .setInterval(Duration.newBuilder().setSeconds(2))
                    .setTimeout(Duration.newBuilder().setSeconds(1))
                    .setHealthyThreshold(UInt32Value.of(2))
                    .setUnhealthyThreshold(UInt32Value.of(3))
                    .setTcpHealthCheck(
                        io.envoyproxy.envoy.config.core.v3.HealthCheck.TcpHealthCheck
                            .getDefaultInstance()))
            .build();

    ClusterSpec s = ClusterDecoder.decode(c);

    assertThat(s.edsName()).isEqualTo("c");
    assertThat(s.maxActive()).isEqualTo(100);
    assertThat(s.maxPending()).isEqualTo(10);
    assertThat(s.outlier().consecutiveFailures()).isEqualTo(3);
    assertThat(s.outlier().baseEjectionTime()).isEqualTo(java.time.Duration.ofSeconds(10));
    assertThat(s.outlier().maxEjectionPercent()).isEqualTo(50);
    assertThat(s.health().interval()).isEqualTo(java.time.Duration.ofSeconds(2));
    assertThat(s.health().unhealthyThreshold()).isEqualTo(3);
    assertThat(s.connectTimeout()).isEqualTo(java.time.Duration.ofSeconds(1));
  }

  @Test
  void staticAndDnsClustersCarryTheirEndpoints() {
    ClusterSpec s = ClusterDecoder.decode(Envoy.staticCluster("s", 8080, 8081));
    assertThat(s.edsName()).isNull();
    assertThat(s.backends())
        .containsExactly(Backend.of("127.0.0.1", 8080), Backend.of("127.0.0.1", 8081));

    Cluster dns =
        Envoy.staticCluster("d", 80).toBuilder().setType(Cluster.DiscoveryType.STRICT_DNS).build();
    assertThat(ClusterDecoder.decode(dns).dns()).isEqualTo(Backend.of("127.0.0.1", 80));
    Cluster twoDns =
        Envoy.staticCluster("d", 80, 81).toBuilder()
            .setType(Cluster.DiscoveryType.STRICT_DNS)
            .build();
    assertThatThrownBy(() -> ClusterDecoder.decode(twoDns))
        .hasMessage("cluster d: 2 DNS endpoints (expected: exactly 1 host name and port)");
  }

  @Test
  void unsupportedClusterSettingsAreRefused() {
    assertThatThrownBy(
            () ->
                ClusterDecoder.decode(
                    Envoy.edsCluster("c").toBuilder()
                        .setType(Cluster.DiscoveryType.ORIGINAL_DST)
                        .build()))
        .hasMessageStartingWith("cluster c: type ORIGINAL_DST not supported");
    assertThatThrownBy(
            () ->
                ClusterDecoder.decode(
                    Envoy.edsCluster("c").toBuilder()
                        .setTransportSocket(TransportSocket.newBuilder().setName("tls"))
                        .build()))
        .hasMessage("cluster c: transport_socket (upstream TLS) not supported");
    assertThatThrownBy(
            () ->
                ClusterDecoder.decode(
                    Envoy.edsCluster("c").toBuilder()
                        .setCircuitBreakers(
                            CircuitBreakers.newBuilder()
                                .addThresholds(
                                    CircuitBreakers.Thresholds.newBuilder()
                                        .setMaxRequests(UInt32Value.of(0))))
                        .build()))
        .hasMessage("cluster c: circuit_breakers max_requests: 0 (expected: >= 1)");
  }

  private static LbEndpoint endpoint(int port, HealthStatus health, int weight) {
    return LbEndpoint.newBuilder()
        .setEndpoint(Endpoint.newBuilder().setAddress(Envoy.address("10.0.0.1", port)))
        .setHealthStatus(health)
        .setLoadBalancingWeight(UInt32Value.of(weight))
        .build();
  }

  @Test
  void endpointsKeepWeightsAndLeaveOutUnhealthyDrainingAndWorsePriorities() {
    ClusterLoadAssignment a =
        ClusterLoadAssignment.newBuilder()
            .setClusterName("c")
            .addEndpoints(
                LocalityLbEndpoints.newBuilder()
                    .addLbEndpoints(endpoint(1, HealthStatus.HEALTHY, 3))
                    .addLbEndpoints(endpoint(2, HealthStatus.UNHEALTHY, 1))
                    .addLbEndpoints(endpoint(3, HealthStatus.DRAINING, 1))
                    .addLbEndpoints(endpoint(4, HealthStatus.UNKNOWN, 1)))
            .addEndpoints(
                LocalityLbEndpoints.newBuilder()
                    .setPriority(1)
                    .addLbEndpoints(endpoint(5, HealthStatus.HEALTHY, 1)))
            .build();

    assertThat(EndpointDecoder.backends("", a))
        .containsExactly(new Backend("10.0.0.1", 1, null, 3), new Backend("10.0.0.1", 4, null, 1));
    ClusterLoadAssignment heavy =
        ClusterLoadAssignment.newBuilder()
            .setClusterName("c")
            .addEndpoints(
                LocalityLbEndpoints.newBuilder()
                    .addLbEndpoints(endpoint(1, HealthStatus.HEALTHY, 20_000)))
            .build();
    assertThatThrownBy(() -> EndpointDecoder.backends("eds c: ", heavy))
        .hasMessage("eds c: endpoint 10.0.0.1:1: weight: 20000 (expected: 1-10000)");
  }

  @Test
  void listenersMapToHttpOrTcpAndTheRestIsRefused() {
    ListenerSpec http = ListenerDecoder.decode(Envoy.httpListener("in", "web"));
    assertThat(http).isEqualTo(new ListenerSpec.Http("in", "127.0.0.1", 0, "web", null));
    ListenerSpec tcp = ListenerDecoder.decode(Envoy.tcpListener("raw", "db"));
    assertThat(tcp).isEqualTo(new ListenerSpec.Tcp("raw", "127.0.0.1", 0, "db", null));

    Listener twoChains =
        Envoy.httpListener("in", "web").toBuilder()
            .addFilterChains(FilterChain.getDefaultInstance())
            .build();
    assertThatThrownBy(() -> ListenerDecoder.decode(twoChains))
        .hasMessage("listener in: 2 filter chains (expected: 1)");
    Listener cors =
        Envoy.listener(
            "in",
            Envoy.hcm()
                .clearHttpFilters()
                .addHttpFilters(
                    HttpFilter.newBuilder()
                        .setName("envoy.filters.http.cors")
                        .setTypedConfig(Any.pack(Cors.getDefaultInstance())))
                .setRds(
                    io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.Rds
                        .newBuilder()
                        .setRouteConfigName("web"))
                .build(),
            "envoy.filters.network.http_connection_manager");
    assertThatThrownBy(() -> ListenerDecoder.decode(cors))
        .hasMessage(
            "listener in: unknown http filter envoy.filters.http.cors (expected: only the router)");
  }
}
