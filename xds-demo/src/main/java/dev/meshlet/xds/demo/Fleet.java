package dev.meshlet.xds.demo;

import com.sun.net.httpserver.HttpServer;
import dev.meshlet.admin.Admin;
import dev.meshlet.xds.XdsClient;
import io.envoyproxy.controlplane.cache.v3.SimpleCache;
import io.envoyproxy.controlplane.cache.v3.Snapshot;
import io.envoyproxy.controlplane.server.V3DiscoveryServer;
import io.grpc.Server;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

/**
 * What the demo runs, all on 127.0.0.1 ports the OS picks: the control plane, the backends, and the
 * proxies with their admin endpoints. Closing it stops them all.
 */
final class Fleet implements AutoCloseable {
  private static final String GROUP = "fleet";

  final SimpleCache<String> cache = new SimpleCache<>(node -> GROUP);
  final Server controlPlane;
  final HttpServer v1;
  final HttpServer v2;
  final List<XdsClient> proxies = new ArrayList<>();
  final List<Admin> admins = new ArrayList<>();

  Fleet(int size) throws IOException {
    controlPlane =
        NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0))
            .addService(new V3DiscoveryServer(cache).getAggregatedDiscoveryServiceImpl())
            .build()
            .start();
    v1 = backend("v1");
    v2 = backend("v2");
    try {
      for (int i = 1; i <= size; i++) {
        XdsClient xds =
            XdsClient.builder()
                .server("127.0.0.1", controlPlane.getPort())
                .nodeId("proxy-" + i)
                .reconnectBackoff(Duration.ofMillis(50), Duration.ofSeconds(1))
                .drainTimeout(Duration.ofSeconds(1))
                .build();
        proxies.add(xds);
        admins.add(
            Admin.builder()
                .listen("127.0.0.1", 0)
                .httpProxies(xds::httpProxies)
                .configSection("xds", xds::statusView)
                .start());
      }
    } catch (IOException | RuntimeException e) {
      close();
      throw e;
    }
  }

  /** A backend answering every request with its name and the path. */
  private static HttpServer backend(String name) throws IOException {
    HttpServer s = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
    s.createContext(
        "/",
        exchange -> {
          byte[] body =
              (name + " " + exchange.getRequestURI().getPath()).getBytes(StandardCharsets.UTF_8);
          exchange.sendResponseHeaders(200, body.length);
          try (OutputStream out = exchange.getResponseBody()) {
            out.write(body);
          }
        });
    s.setExecutor(Executors.newVirtualThreadPerTaskExecutor());
    s.start();
    return s;
  }

  void push(String version, String routeTo) {
    Snapshot s =
        Resources.snapshot(version, v1.getAddress().getPort(), v2.getAddress().getPort(), routeTo);
    cache.setSnapshot(GROUP, s);
  }

  @Override
  public void close() {
    for (Admin a : admins) {
      a.close();
    }
    for (XdsClient x : proxies) {
      x.close();
    }
    controlPlane.shutdownNow();
    try {
      controlPlane.awaitTermination(5, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    v1.stop(0);
    v2.stop(0);
  }
}
