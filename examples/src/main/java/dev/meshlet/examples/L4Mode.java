package dev.meshlet.examples;

import dev.meshlet.l4.TcpProxy;
import dev.meshlet.l4.TcpProxyBuilder;
import java.io.PrintStream;
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
      """;

  static final String HELP =
      """
        --idle-timeout       l4: a connection with no bytes either way is closed (0s: never)
        --max-connections    l4: client connections open at once; more are closed on accept
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
          "--drain-timeout");

  /** The flags that take no value. */
  static final Set<String> SWITCHES = Set.of("--defer-resolution");

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
    for (String backend : backends) {
      b.backends(Values.backend(backend, resolve));
    }
    String balancer = f.optional("--balancer");
    if (balancer != null) {
      b.balancer(Values.balancer(balancer));
    }
    String v;
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
    f.done();
    try (TcpProxy proxy = b.start()) {
      out.println(
          "meshlet l4 listening on "
              + listen[0]
              + ":"
              + proxy.port()
              + " -> "
              + proxy.cluster().endpoints());
      out.flush();
      stop.await();
      out.println("meshlet l4 draining (" + proxy.stats().active() + " connections open)");
      out.flush();
    }
    out.println("meshlet l4 stopped");
    return 0;
  }
}
