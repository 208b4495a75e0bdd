package dev.meshlet.bench;

import dev.meshlet.core.Backend;
import dev.meshlet.core.Cluster;
import dev.meshlet.core.ServerTls;
import dev.meshlet.l7.HttpProxy;
import dev.meshlet.l7.HttpProxyBuilder;
import dev.meshlet.l7.UpstreamProtocol;
import java.io.IOException;
import java.time.Duration;
import org.jspecify.annotations.Nullable;

/** Starts meshlet's L7 proxy in front of one backend, as the harness measures it. */
final class L7Role {
  private L7Role() {}

  record Started(AutoCloseable proxy, int port) {}

  /**
   * Starts the proxy; with {@code h2c} it also speaks HTTP/2 in clear text to clients (prior
   * knowledge, same port) and only h2c to the backend, as in front of a gRPC server.
   */
  static Started start(
      int backendPort, int listenPort, boolean histograms, @Nullable ServerTls tls, boolean h2c)
      throws IOException {
    Cluster backend = Cluster.of("bench", Backend.of("127.0.0.1", backendPort));
    HttpProxyBuilder b =
        HttpProxy.builder()
            .listen("127.0.0.1", listenPort)
            .route(r -> r.pathPrefix("/api/").to(backend))
            .defaultRoute(backend)
            .idleTimeout(Duration.ofMinutes(10)) // the memory test holds connections idle
            .maxConnectionsPerBackend(64)
            .latencyHistograms(histograms);
    if (tls != null) {
      b.tls(tls);
    }
    if (h2c) {
      b.h2c(true).upstreamProtocol(backend, UpstreamProtocol.H2C);
    }
    HttpProxy p = b.start();
    return new Started(p, p.port());
  }

  static boolean available() {
    return true;
  }
}
