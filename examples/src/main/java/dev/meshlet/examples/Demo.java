package dev.meshlet.examples;

import dev.meshlet.core.Backend;
import dev.meshlet.core.Cluster;
import dev.meshlet.l4.TcpProxy;
import dev.meshlet.l7.HttpProxy;
import java.io.PrintStream;
import java.net.BindException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CountDownLatch;

/**
 * The demo: seven named backends, an L7 proxy with a routing table in front of them, and an L4
 * proxy over the web pool, all in this process.
 */
public final class Demo {
  static final String USAGE =
      """
      usage: java -jar meshlet.jar [demo] [--host 127.0.0.1] [--http-port 8080] [--tcp-port 9090]
      Starts demo backends, an L7 proxy on --http-port and an L4 proxy on --tcp-port; Ctrl-C stops it.
      """;

  /** The flags the demo knows. */
  static final Set<String> DEMO_FLAGS = Set.of("--host", "--http-port", "--tcp-port");

  private Demo() {}

  static int run(List<String> args, PrintStream out, PrintStream err, CountDownLatch stop) {
    String host = "127.0.0.1";
    int httpPort = 8080;
    int tcpPort = 9090;
    try {
      Flags f = new Flags(args, DEMO_FLAGS, Set.of());
      host = f.optionalOr("--host", host);
      httpPort = Values.port(f.optionalOr("--http-port", "8080"), "--http-port");
      tcpPort = Values.port(f.optionalOr("--tcp-port", "9090"), "--tcp-port");
      f.done();
    } catch (UsageException e) {
      err.println("meshlet demo: " + e.getMessage());
      err.print(USAGE);
      return 2;
    }
    List<AutoCloseable> running = new ArrayList<>();
    try {
      Cluster api = pool("api", running, "api-1", "api-2");
      Cluster statics = pool("static", running, "static-1");
      Cluster admin = pool("admin", running, "admin-1");
      Cluster v2 = pool("v2", running, "v2-1");
      Cluster web = pool("web", running, "web-1", "web-2");

      HttpProxy http;
      try {
        http =
            HttpProxy.builder()
                .listen(host, httpPort)
                .route(r -> r.name("api").pathPrefix("/api/").to(api))
                .route(r -> r.name("static").pathPrefix("/static/").to(statics))
                .route(r -> r.name("admin").host("admin.example.com").to(admin))
                .route(r -> r.name("v2").header("X-API-Version", "v2").to(v2))
                .defaultRoute(web)
                .drainTimeout(Duration.ofSeconds(5))
                .start();
      } catch (BindException e) {
        err.println("meshlet demo: " + e.getMessage() + " (choose another with --http-port)");
        return 1;
      }
      running.add(http);
      TcpProxy tcp;
      try {
        tcp =
            TcpProxy.builder()
                .listen(host, tcpPort)
                .cluster(web)
                .drainTimeout(Duration.ofSeconds(5))
                .start();
      } catch (BindException e) {
        err.println("meshlet demo: " + e.getMessage() + " (choose another with --tcp-port)");
        return 1;
      }
      running.add(tcp);

      String h = host.equals("0.0.0.0") ? "127.0.0.1" : host;
      String l7 = h + ":" + http.port();
      String l4 = h + ":" + tcp.port();
      out.printf(
          """
          meshlet demo

          L7 proxy listening on %1$s   (first match wins)
            path prefix /api/                 -> api     %3$s
            path prefix /static/              -> static  %4$s
            Host: admin.example.com           -> admin   %5$s
            header X-API-Version: v2          -> v2      %6$s
            anything else                     -> web     %7$s
          L4 proxy listening on %2$s   -> web (round robin, bytes only)

          Try (each answer names the backend that served it):
            curl http://%1$s/api/users
            curl http://%1$s/api/users          # again: the other api backend
            curl http://%1$s/static/logo.png
            curl -H 'Host: admin.example.com' http://%1$s/
            curl -H 'X-API-Version: v2' http://%1$s/orders
            curl http://%1$s/
            curl http://%2$s/anything           # through the L4 proxy
          Ctrl-C stops.
          """,
          l7, l4, backends(api), backends(statics), backends(admin), backends(v2), backends(web));
      out.flush();
      stop.await();
      out.println("meshlet demo stopping");
      return 0;
    } catch (Exception e) {
      err.println("meshlet demo: " + e);
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

  private static Cluster pool(String name, List<AutoCloseable> running, String... backends)
      throws Exception {
    Cluster.Builder c = Cluster.builder(name);
    for (String b : backends) {
      NamedBackend server = NamedBackend.start(b);
      running.add(server);
      c.backends(Backend.of("127.0.0.1", server.port()).withName(b));
    }
    return c.build();
  }

  private static String backends(Cluster c) {
    StringBuilder s = new StringBuilder();
    for (var e : c.endpoints()) {
      if (s.length() > 0) {
        s.append(", ");
      }
      s.append(e.backend().displayName()).append('@').append(e.backend().port());
    }
    return s.toString();
  }
}
