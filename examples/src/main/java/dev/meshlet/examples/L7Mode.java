package dev.meshlet.examples;

import dev.meshlet.admin.Admin;
import dev.meshlet.core.Balancer;
import dev.meshlet.core.ClientTls;
import dev.meshlet.core.Cluster;
import dev.meshlet.core.ServerTls;
import dev.meshlet.l4.ProxyProtocol;
import dev.meshlet.l7.AccessLog;
import dev.meshlet.l7.HttpProxy;
import dev.meshlet.l7.HttpProxyBuilder;
import dev.meshlet.l7.ResponseCompression;
import dev.meshlet.l7.UpstreamProtocol;
import java.io.PrintStream;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CountDownLatch;

/** {@code meshlet l7 …}: an {@link HttpProxy} from flags. */
final class L7Mode {
  static final String USAGE =
      """
        java -jar meshlet.jar l7 --listen HOST:PORT
                 [--route PATH_PREFIX=HOST:PORT[,HOST:PORT...]]      (repeatable, kept in order)
                 [--host-route HOST=HOST:PORT[,...]]                (repeatable; *.example.com allowed)
                 [--header-route NAME:VALUE=HOST:PORT[,...]]        (repeatable)
                 [--default HOST:PORT[,...]] [--balancer round-robin] [--connect-timeout 5s]
                 [--response-timeout 15s] [--drain-timeout 10s] [--access-log] [--defer-resolution]
                 [--access-log-format text|json] [--generate-traceparent] [--compress]
                 [--proxy-protocol-in] [--proxy-protocol-from CIDR] [--proxy-protocol-out v1|v2]
                 [--h2c] [--upstream-h2c | --upstream-h2]
                 [--admin 127.0.0.1:9901] [--admin-allow-remote]
      """
          + TlsFlags.USAGE;

  static final String HELP =
      """
        --response-timeout   l7: how long a backend may take to begin its response, then 504;
                             a backend may also stay silent that long within an exchange
        --access-log         l7: one line per request on standard error (default off)
        --access-log-format  l7: text or json lines; implies --access-log
        --generate-traceparent  l7: start a W3C trace for a request without a valid traceparent
        --compress           l7: gzip text responses of 1 KiB or more for clients that accept
                             it (never gRPC or bodies already encoded; streams flushed as they go)
        --proxy-protocol-in  l4, l7: every connection must begin with a PROXY header (v1 or v2,
                             as HAProxy's send-proxy sends); one without is closed
        --proxy-protocol-from
                             l4, l7: as --proxy-protocol-in, from these addresses or blocks only
                             (repeatable, e.g. 10.0.0.0/8); others are closed
        --proxy-protocol-out l4, l7: begin each backend connection with a PROXY header naming
                             the client (off by default)
        --h2c                l7: also speak HTTP/2 in clear text on the listen port (prior
                             knowledge and Upgrade: h2c); a TLS listener offers h2 by ALPN anyway
        --upstream-h2c       l7: speak HTTP/2 in clear text (prior knowledge) to every backend
        --upstream-h2        l7: offer HTTP/2 by ALPN to every backend (needs --upstream-tls);
                             a backend that declines is spoken to in HTTP/1.1
      """
          + TlsFlags.HELP;

  /** The flags that take a value; any other flag is named as unknown before anything is checked. */
  static final Set<String> FLAGS =
      Flags.union(
          TlsFlags.FLAGS,
          "--listen",
          "--route",
          "--host-route",
          "--header-route",
          "--default",
          "--balancer",
          "--connect-timeout",
          "--response-timeout",
          "--drain-timeout",
          "--access-log-format",
          "--proxy-protocol-out",
          "--proxy-protocol-from",
          "--admin");

  /** The flags that take no value. */
  static final Set<String> SWITCHES =
      Flags.union(
          TlsFlags.SWITCHES,
          "--access-log",
          "--defer-resolution",
          "--generate-traceparent",
          "--compress",
          "--proxy-protocol-in",
          "--h2c",
          "--upstream-h2c",
          "--upstream-h2",
          "--admin-allow-remote");

  /**
   * {@link HttpProxyBuilder#idleTimeout(Duration)}'s default: a client connection waiting this long
   * for a response is given up on, so a longer response timeout needs a longer one.
   */
  private static final Duration CLIENT_IDLE_DEFAULT = Duration.ofSeconds(60);

  /** How much the client idle timeout outlasts the response timeout, so that the 504 says why. */
  private static final Duration IDLE_MARGIN = Duration.ofSeconds(1);

  private L7Mode() {}

  /** The protocol to backends from {@code --upstream-h2c} and {@code --upstream-h2}. */
  private static UpstreamProtocol upstreamProtocol(Flags f, boolean tls) {
    boolean h2c = f.flag("--upstream-h2c");
    boolean h2 = f.flag("--upstream-h2");
    if (h2c && h2) {
      throw new UsageException("--upstream-h2c and --upstream-h2: give one (h2c is clear text)");
    }
    if (h2c && tls) {
      throw new UsageException(
          "--upstream-h2c with --upstream-tls: h2c is clear text (expected: --upstream-h2)");
    }
    if (h2 && !tls) {
      throw new UsageException(
          "--upstream-h2 needs --upstream-tls (expected: --upstream-h2c for clear text)");
    }
    return h2c ? UpstreamProtocol.H2C : h2 ? UpstreamProtocol.H2 : UpstreamProtocol.HTTP_1_1;
  }

  static int run(List<String> args, PrintStream out, CountDownLatch stop) throws Exception {
    Flags f = new Flags(args, FLAGS, SWITCHES);
    HttpProxyBuilder b = HttpProxy.builder();
    String[] listen = Values.listen(f.required("--listen"));
    b.listen(listen[0], Integer.parseInt(listen[1]));
    String balancerName = f.optional("--balancer");
    Balancer balancer =
        balancerName == null ? Balancer.roundRobin() : Values.balancer(balancerName);
    boolean resolve = !f.flag("--defer-resolution");
    ServerTls tls = TlsFlags.server(f);
    if (tls != null) {
      b.tls(tls);
    }
    ClientTls upstream = TlsFlags.upstream(f);
    UpstreamProtocol protocol = upstreamProtocol(f, upstream != null);
    List<Cluster> clusters = new ArrayList<>();
    String rt = f.optional("--response-timeout");
    Duration responseTimeout = rt == null ? null : Values.duration(rt, "--response-timeout");
    if (responseTimeout != null) {
      b.responseTimeout(responseTimeout); // the upstream idle timeout follows it in the proxy
      if (responseTimeout.compareTo(CLIENT_IDLE_DEFAULT) >= 0) {
        b.idleTimeout(responseTimeout.plus(IDLE_MARGIN));
      }
    }
    int routes = 0;
    for (Flags.Flag flag : f.inOrder("--route", "--host-route", "--header-route")) {
      int eq = flag.value().indexOf('=');
      if (eq <= 0 || eq == flag.value().length() - 1) {
        throw new UsageException(
            flag.name() + " '" + flag.value() + "': expected MATCH=HOST:PORT[,HOST:PORT...]");
      }
      String match = flag.value().substring(0, eq);
      Cluster cluster =
          Values.cluster(
              "route-" + (++routes) + " " + match,
              flag.value().substring(eq + 1),
              balancer,
              resolve,
              upstream);
      clusters.add(cluster);
      switch (flag.name()) {
        case "--route" -> {
          if (!match.startsWith("/")) {
            throw new UsageException(
                "--route '" + flag.value() + "': the path prefix must start with /");
          }
          b.route(r -> r.name(match).pathPrefix(match).to(cluster));
        }
        case "--host-route" -> b.route(r -> r.name(match).host(match).to(cluster));
        default -> {
          int colon = match.indexOf(':');
          if (colon <= 0 || colon == match.length() - 1) {
            throw new UsageException(
                "--header-route '" + flag.value() + "': expected NAME:VALUE=HOST:PORT[,...]");
          }
          String name = match.substring(0, colon);
          String value = match.substring(colon + 1);
          b.route(r -> r.name(match).header(name, value).to(cluster));
        }
      }
    }
    String def = f.optional("--default");
    if (def != null) {
      Cluster cluster = Values.cluster("default", def, balancer, resolve, upstream);
      clusters.add(cluster);
      b.defaultRoute(cluster);
    }
    if (protocol != UpstreamProtocol.HTTP_1_1) {
      for (Cluster c : clusters) {
        b.upstreamProtocol(c, protocol);
      }
    }
    if (f.flag("--h2c")) {
      b.h2c(true);
    }
    if (routes == 0 && def == null) {
      throw new UsageException(
          "l7: give at least one --route, --host-route, --header-route or --default");
    }
    String v;
    if ((v = f.optional("--connect-timeout")) != null) {
      b.connectTimeout(Values.duration(v, "--connect-timeout"));
    }
    String format = f.optional("--access-log-format");
    if (format != null) {
      b.accessLog(
          switch (format) {
            case "text" -> AccessLog.text();
            case "json" -> AccessLog.json();
            default ->
                throw new UsageException(
                    "--access-log-format '" + format + "' (expected: text or json)");
          });
    } else if (f.flag("--access-log")) {
      b.accessLog(true);
    }
    if (f.flag("--generate-traceparent")) {
      b.generateTraceparent(true);
    }
    if (f.flag("--compress")) {
      b.compression(ResponseCompression.defaults());
    }
    ProxyProtocolFlags.proxyProtocolIn(f, b::proxyProtocolIn);
    ProxyProtocol proxyOut = ProxyProtocolFlags.proxyProtocolOut(f);
    if (proxyOut != null) {
      b.proxyProtocolOut(proxyOut);
    }
    b.drainTimeout(Values.duration(f.optionalOr("--drain-timeout", "10s"), "--drain-timeout"));
    AdminFlags.Settings admin = AdminFlags.read(f);
    f.done();
    try (HttpProxy proxy = b.start()) {
      out.println(
          "meshlet l7 listening on "
              + listen[0]
              + ":"
              + proxy.port()
              + (tls == null ? "" : " (TLS, " + tls.clientAuth() + " client certificates)")
              + (f.flag("--h2c") ? " (h2c)" : ""));
      out.flush();
      try (Admin ignored = AdminFlags.start(admin, out, a -> a.register("l7", proxy))) {
        stop.await();
      }
      out.println("meshlet l7 draining");
      out.flush();
    }
    out.println("meshlet l7 stopped");
    return 0;
  }
}
