package dev.meshlet.xds;

import io.envoyproxy.controlplane.cache.v3.SimpleCache;
import io.envoyproxy.controlplane.cache.v3.Snapshot;
import io.envoyproxy.controlplane.server.DiscoveryServerCallbacks;
import io.envoyproxy.controlplane.server.V3DiscoveryServer;
import io.envoyproxy.envoy.service.discovery.v3.DeltaDiscoveryRequest;
import io.envoyproxy.envoy.service.discovery.v3.DiscoveryRequest;
import io.grpc.Server;
import io.grpc.ServerCredentials;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.jspecify.annotations.Nullable;

/**
 * Envoy's java-control-plane in process: a {@link SimpleCache} served over ADS on 127.0.0.1, that
 * records every request it gets (NACKs carry an error_detail).
 */
final class ControlPlane implements AutoCloseable {
  static final String GROUP = "meshlet";

  final SimpleCache<String> cache = new SimpleCache<>(node -> GROUP);
  final List<DiscoveryRequest> requests = new CopyOnWriteArrayList<>();
  private final @Nullable ServerCredentials tls;
  private Server server;
  private final int port;

  ControlPlane() throws IOException {
    this(null);
  }

  /** A control plane behind TLS with {@code tls} (e.g. requiring client certificates). */
  ControlPlane(@Nullable ServerCredentials tls) throws IOException {
    this.tls = tls;
    server = serve(0);
    port = server.getPort();
  }

  private Server serve(int p) throws IOException {
    DiscoveryServerCallbacks callbacks =
        new DiscoveryServerCallbacks() {
          @Override
          public void onV3StreamRequest(long streamId, DiscoveryRequest request) {
            requests.add(request);
          }

          @Override
          public void onV3StreamDeltaRequest(long streamId, DeltaDiscoveryRequest request) {}
        };
    V3DiscoveryServer discovery = new V3DiscoveryServer(callbacks, cache);
    InetSocketAddress at = new InetSocketAddress("127.0.0.1", p);
    NettyServerBuilder b =
        tls == null ? NettyServerBuilder.forAddress(at) : NettyServerBuilder.forAddress(at, tls);
    return b.addService(discovery.getAggregatedDiscoveryServiceImpl()).build().start();
  }

  int port() {
    return port;
  }

  void push(Snapshot snapshot) {
    cache.setSnapshot(GROUP, snapshot);
  }

  /** The requests that rejected a response, with their reasons. */
  List<DiscoveryRequest> nacks() {
    return requests.stream().filter(DiscoveryRequest::hasErrorDetail).toList();
  }

  /** Stops serving: open streams break. */
  void stop() throws InterruptedException {
    server.shutdownNow();
    server.awaitTermination(5, TimeUnit.SECONDS);
  }

  /** Serves again on the same port, from the same cache. */
  void restart() throws IOException {
    server = serve(port);
  }

  void awaitStopped() throws InterruptedException {
    server.awaitTermination(5, TimeUnit.SECONDS);
  }

  @Override
  public void close() {
    server.shutdownNow();
  }
}
