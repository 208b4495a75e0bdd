package dev.meshlet.examples;

import dev.meshlet.admin.Admin;
import dev.meshlet.core.Balancer;
import dev.meshlet.core.ClientTls;
import dev.meshlet.core.Cluster;
import dev.meshlet.core.ServerTls;
import dev.meshlet.l4.ProxyProtocol;
import dev.meshlet.l4.TcpProxy;
import dev.meshlet.l4.TcpProxyBuilder;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CountDownLatch;

/** {@code meshlet l4 …}: a {@link TcpProxy} from flags. */
final class L4Mode {
  static final String USAGE =
      """
        java -jar meshlet.jar l4 --listen HOST:PORT --backend HOST:PORT [--backend HOST:PORT ...]
                 [--balancer round-robin] [--connect-timeout 5s] [--idle-timeout 1h]
                 [--max-connections 10000] [--drain-timeout 10s] [--defer-resolution]
                 [--tls-cert FILE --tls-key FILE] [--upstream-tls [--upstream-ca FILE]]
                 [--sni-route NAME=HOST:PORT[,HOST:PORT...]]   (repeatable; *.example.com allowed)
                 [--proxy-protocol-in] [--proxy-protocol-from CIDR] [--proxy-protocol-out v1|v2]
                 [--handshake-timeout 5s]
                 [--admin 127.0.0.1:9901] [--admin-allow-remote]
      """;

  static final String HELP =
      """
        --idle-timeout       l4: a connection with no bytes either way is closed (0s: never)
        --max-connections    l4: client connections open at once; more are closed on accept
        --tls-cert, --tls-key
                             l4: terminate TLS with this PEM chain and PKCS#8 PEM key
        --upstream-tls       l4: speak TLS to the backends, their host name verified
        --upstream-ca        l4: the PEM CA bundle backends' certificates chain to (default: the JDK's)
        --sni-route          l4: TLS passthrough by server name, the first match wins; other names,
                             no name and no TLS go to the --backends
        --handshake-timeout  l4: for the PROXY header, the ClientHello and the client's TLS handshake
      """;

  /** The flags that take a value; any other flag is named as unknown before anything is checked. */
  static final Set<String> FLAGS =
      Set.of(
          "--listen",
          "--backend",
          "--balancer",
          "--connect-timeout",
          "--idle-timeout",
          "--max-connections",
          "--drain-timeout",
          "--tls-cert",
          "--tls-key",
          "--upstream-ca",
          "--sni-route",
          "--proxy-protocol-out",
          "--proxy-protocol-from",
          "--handshake-timeout",
          "--admin");

  /** The flags that take no value. */
  static final Set<String> SWITCHES =
      Set.of("--defer-resolution", "--upstream-tls", "--proxy-protocol-in", "--admin-allow-remote");

  private L4Mode() {}

  static int run(List<String> args, PrintStream out, CountDownLatch stop) throws Exception {
    Flags f = new Flags(args, FLAGS, SWITCHES);
    TcpProxyBuilder b = TcpProxy.builder();
    String[] listen = Values.listen(f.required("--listen"));
    b.listen(listen[0], Integer.parseInt(listen[1]));
    List<String> backends = f.all("--backend");
    if (backends.isEmpty()) {
      throw new UsageException("l4: give at least one --backend HOST:PORT");
    }
    boolean resolve = !f.flag("--defer-resolution");
    String balancerName = f.optional("--balancer");
    Balancer balancer =
        balancerName == null ? Balancer.roundRobin() : Values.balancer(balancerName);
    ClientTls upstream = Secure.upstream(f);
    List<Cluster> clusters = new ArrayList<>(); // the command line's own, closed when it stops
    clusters.add(Values.cluster("l4", String.join(",", backends), balancer, resolve, upstream));
    b.cluster(clusters.get(0));
    for (String route : f.all("--sni-route")) {
      int eq = route.indexOf('=');
      if (eq <= 0 || eq == route.length() - 1) {
        throw new UsageException(
            "--sni-route '" + route + "' (expected: NAME=HOST:PORT[,HOST:PORT...])");
      }
      String name = route.substring(0, eq);
      Cluster c =
          Values.cluster("sni " + name, route.substring(eq + 1), balancer, resolve, upstream);
      clusters.add(c);
      try {
        b.sniRoute(name, c);
      } catch (IllegalArgumentException e) {
        throw new UsageException("--sni-route '" + route + "': " + e.getMessage());
      }
    }
    ServerTls tls = Secure.server(f);
    if (tls != null) {
      b.tls(tls);
    }
    Secure.proxyProtocolIn(f, b::proxyProtocolIn);
    ProxyProtocol proxyOut = Secure.proxyProtocolOut(f);
    if (proxyOut != null) {
      b.proxyProtocolOut(proxyOut);
    }
    String v;
    if ((v = f.optional("--handshake-timeout")) != null) {
      b.handshakeTimeout(Values.duration(v, "--handshake-timeout"));
    }
    if ((v = f.optional("--connect-timeout")) != null) {
      b.connectTimeout(Values.duration(v, "--connect-timeout"));
    }
    if ((v = f.optional("--idle-timeout")) != null) {
      b.idleTimeout(Values.duration(v, "--idle-timeout"));
    }
    if ((v = f.optional("--max-connections")) != null) {
      b.maxConnections(Values.integer(v, "--max-connections"));
    }
    b.drainTimeout(Values.duration(f.optionalOr("--drain-timeout", "10s"), "--drain-timeout"));
    AdminFlags.Settings admin = AdminFlags.read(f);
    f.done();
    // the proxy closes (draining its connections) before the clusters it forwards to
    try (AutoCloseable owned = () -> clusters.forEach(Cluster::close);
        TcpProxy proxy = b.start()) {
      out.println(
          "meshlet l4 listening on "
              + listen[0]
              + ":"
              + proxy.port()
              + " -> "
              + proxy.cluster().endpoints());
      out.flush();
      try (Admin ignored = AdminFlags.start(admin, out, a -> a.register("l4", proxy))) {
        stop.await();
      }
      out.println("meshlet l4 draining (" + proxy.stats().active() + " connections open)");
      out.flush();
    }
    out.println("meshlet l4 stopped");
    return 0;
  }
}
