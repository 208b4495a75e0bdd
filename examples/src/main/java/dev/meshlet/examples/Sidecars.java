package dev.meshlet.examples;

import dev.meshlet.core.Backend;
import dev.meshlet.core.ClientTls;
import dev.meshlet.core.Cluster;
import dev.meshlet.core.ServerTls;
import dev.meshlet.core.TlsIdentity;
import dev.meshlet.core.TlsTrust;
import dev.meshlet.l7.HttpProxy;
import dev.meshlet.testpki.TestPki;
import java.io.PrintStream;
import java.net.BindException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CountDownLatch;

/**
 * {@code meshlet sidecars}: two workloads talking through sidecars over mutual TLS, in this
 * process. The {@code web} workload's outbound sidecar takes plain HTTP and speaks mutual TLS with
 * web's SPIFFE identity to the {@code orders} workload's inbound sidecar, which checks that
 * identity, forwards it in {@code x-forwarded-client-cert} and speaks plain HTTP to the orders app.
 * A {@code batch} workload's outbound sidecar is refused (403): orders allows web only. The
 * certificates come from an in-process CA made at start.
 */
final class Sidecars {
  static final String USAGE =
      """
      usage: java -jar meshlet.jar sidecars [--host 127.0.0.1] [--web-port 15001] [--batch-port 15002]
                                            [--inbound-port 15006]
      Starts the orders app behind an inbound mTLS sidecar, and outbound sidecars for the web and
      batch workloads; Ctrl-C stops it.
      """;

  static final Set<String> FLAGS = Set.of("--host", "--web-port", "--batch-port", "--inbound-port");

  private static final String TRUST_DOMAIN = "spiffe://cluster.local/ns/default/sa/";

  private Sidecars() {}

  static int run(List<String> args, PrintStream out, PrintStream err, CountDownLatch stop) {
    String host;
    int webPort;
    int batchPort;
    int inboundPort;
    try {
      Flags f = new Flags(args, FLAGS, Set.of());
      host = f.optionalOr("--host", "127.0.0.1");
      webPort = Values.port(f.optionalOr("--web-port", "15001"), "--web-port");
      batchPort = Values.port(f.optionalOr("--batch-port", "15002"), "--batch-port");
      inboundPort = Values.port(f.optionalOr("--inbound-port", "15006"), "--inbound-port");
      f.done();
    } catch (UsageException | IllegalArgumentException e) {
      err.println("meshlet sidecars: " + e.getMessage());
      err.print(USAGE);
      return 2;
    }
    List<AutoCloseable> running = new ArrayList<>();
    try {
      TestPki pki = TestPki.create("meshlet sidecars demo CA");
      NamedBackend app = NamedBackend.start("orders-app");
      running.add(app);
      String orders = TRUST_DOMAIN + "orders";
      String web = TRUST_DOMAIN + "web";
      HttpProxy inbound =
          HttpProxy.builder()
              .listen(host, inboundPort)
              .tls(
                  ServerTls.builder(identity(pki.spiffe(orders, "localhost")))
                      .clientAuth(ServerTls.ClientAuth.REQUIRE, TlsTrust.of(pki.caCertificate()))
                      .build())
              .forwardClientCert(true)
              .route(
                  r ->
                      r.name("orders")
                          .pathPrefix("/")
                          .allowPeers(web)
                          .to(Cluster.of("orders-app", Backend.of("127.0.0.1", app.port()))))
              .drainTimeout(Duration.ofSeconds(2))
              .start();
      running.add(inbound);
      HttpProxy webOut =
          outbound(host, webPort, "web", pki, pki.spiffe(web), orders, inbound.port());
      running.add(webOut);
      HttpProxy batchOut =
          outbound(
              host,
              batchPort,
              "batch",
              pki,
              pki.spiffe(TRUST_DOMAIN + "batch"),
              orders,
              inbound.port());
      running.add(batchOut);
      String h = host.equals("0.0.0.0") ? "127.0.0.1" : host;
      out.printf(
          """
          meshlet sidecars

          orders app                  127.0.0.1:%4$d   plain HTTP
          orders inbound sidecar      %1$s:%3$d   mTLS, allows %5$s
          web outbound sidecar        %1$s:%2$d   plain in, mTLS out as %5$s
          batch outbound sidecar      %1$s:%6$d   plain in, mTLS out as %7$s

          Try:
            curl http://%1$s:%2$d/orders/42    # 200 from orders-app, with web's identity
            curl http://%1$s:%6$d/orders/42    # 403: batch is not allowed
          Ctrl-C stops.
          """,
          h,
          webOut.port(),
          inbound.port(),
          app.port(),
          web,
          batchOut.port(),
          TRUST_DOMAIN + "batch");
      out.flush();
      stop.await();
      out.println("meshlet sidecars stopping");
      return 0;
    } catch (BindException e) {
      err.println("meshlet sidecars: " + e.getMessage() + " (choose other ports with the flags)");
      return 1;
    } catch (Exception e) {
      err.println("meshlet sidecars: " + e);
      return 1;
    } finally {
      for (int i = running.size() - 1; i >= 0; i--) {
        try {
          running.get(i).close();
        } catch (Exception ignored) {
          // best effort on the way out
        }
      }
    }
  }

  /** A workload's outbound sidecar: plain HTTP in, mutual TLS as {@code me} to the inbound one. */
  private static HttpProxy outbound(
      String host,
      int port,
      String workload,
      TestPki pki,
      TestPki.Leaf me,
      String server,
      int inboundPort)
      throws Exception {
    Cluster upstream =
        Cluster.builder("orders-via-" + workload)
            .backend("127.0.0.1:" + inboundPort)
            .tls(
                ClientTls.builder()
                    .trust(TlsTrust.of(pki.caCertificate()))
                    .identity(identity(me))
                    .peers(server) // the server must be the orders workload
                    .build())
            .build();
    return HttpProxy.builder()
        .listen(host, port)
        .defaultRoute(upstream)
        .drainTimeout(Duration.ofSeconds(2))
        .start();
  }

  private static TlsIdentity identity(TestPki.Leaf leaf) {
    return TlsIdentity.of(leaf.privateKey(), leaf.chain());
  }
}
