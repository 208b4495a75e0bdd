package dev.meshlet.bench;

import dev.meshlet.core.Backend;
import dev.meshlet.core.Cluster;
import dev.meshlet.core.ServerTls;
import dev.meshlet.core.TlsIdentity;
import dev.meshlet.l4.TcpProxy;
import dev.meshlet.l4.TcpProxyBuilder;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.function.LongSupplier;
import org.jspecify.annotations.Nullable;

/**
 * Child role: a meshlet proxy (L4 or L7) in its own JVM, forwarding to one backend on loopback.
 *
 * <p>Usage: {@code proxy l4|l7 <backend port> [listen port] [--no-histograms] [--tls-cert FILE
 * --tls-key FILE] [--sni NAME] [--h2c]} (0 or absent: any free port, as the harness starts it; a
 * fixed port lets a meshlet variant, e.g. with other JVM options, run as a {@code --peer}; {@code
 * --no-histograms} turns the L7 proxy's latency histograms off, to measure what they cost; {@code
 * --tls-*} terminates TLS at L7 with PEM files; {@code --sni} routes TLS passthrough at L4 by that
 * server name; {@code --h2c} makes the L7 proxy accept h2c and forward in h2c). Prints {@code PORT
 * n} once listening. Reads commands on stdin: {@code mem} prints {@code MEM <heap bytes after GC>
 * <rss bytes after trimming the native heap> <platform threads> <active connections>}; end of input
 * closes the proxy and exits.
 */
final class ProxyRole {
  private ProxyRole() {}

  static void main(String[] args) throws Exception {
    if (args.length < 2) {
      throw new IllegalArgumentException(
          "usage: proxy l4|l7 <backend port> [listen port] [--no-histograms]"
              + " [--tls-cert FILE --tls-key FILE] [--sni NAME] [--h2c]");
    }
    int backendPort = Integer.parseInt(args[1]);
    int listenPort = args.length > 2 && !args[2].startsWith("--") ? Integer.parseInt(args[2]) : 0;
    List<String> flags = Arrays.asList(args);
    boolean histograms = !flags.contains("--no-histograms");
    String cert = flag(flags, "--tls-cert");
    String key = flag(flags, "--tls-key");
    ServerTls tls =
        cert == null || key == null
            ? null
            : ServerTls.of(TlsIdentity.pem(Path.of(cert), Path.of(key)));
    String sni = flag(flags, "--sni");
    AutoCloseable proxy;
    int port;
    LongSupplier active;
    switch (args[0]) {
      case "l4" -> {
        Backend backend = Backend.of("127.0.0.1", backendPort);
        TcpProxyBuilder b =
            TcpProxy.builder()
                .listen("127.0.0.1", listenPort)
                .backends(backend)
                .maxConnections(20_000);
        if (sni != null) {
          // TLS passthrough: the ClientHello is read for its server name, then spliced
          b.sniRoute(sni, Cluster.of("sni", backend));
        }
        TcpProxy p = b.start();
        proxy = p;
        port = p.port();
        active = () -> p.stats().active();
      }
      case "l7" -> {
        L7Role.Started s =
            L7Role.start(backendPort, listenPort, histograms, tls, flags.contains("--h2c"));
        proxy = s.proxy();
        port = s.port();
        active = () -> -1;
      }
      default -> throw new IllegalArgumentException("layer: " + args[0] + " (expected: l4 or l7)");
    }
    System.out.println("PORT " + port);
    System.out.flush();
    try (proxy;
        BufferedReader in =
            new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8))) {
      for (String line; (line = in.readLine()) != null; ) {
        if (line.equals("mem")) {
          awaitJitQuiet();
          System.gc();
          System.gc();
          long heap = ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed();
          Proc.trimNativeHeap(); // RSS without the memory glibc keeps after the JIT freed it
          long rss = Proc.rss(ProcessHandle.current().pid());
          int threads = ManagementFactory.getThreadMXBean().getThreadCount();
          System.out.println("MEM " + heap + " " + rss + " " + threads + " " + active.getAsLong());
          System.out.flush();
        }
      }
    }
    System.exit(0);
  }

  private static @Nullable String flag(List<String> args, String name) {
    int i = args.indexOf(name);
    if (i < 0) {
      return null;
    }
    if (i + 1 >= args.size()) {
      throw new IllegalArgumentException(name + ": missing value");
    }
    return args.get(i + 1);
  }

  /**
   * Waits (at most 60 s) until the JIT has compiled nothing for 6 s: a compilation's arenas are C
   * heap (megabytes, returned to the JVM's chunk pool, which frees them 5 s later), and read as RSS
   * they would be counted against the connections held.
   */
  private static void awaitJitQuiet() {
    java.lang.management.CompilationMXBean jit = ManagementFactory.getCompilationMXBean();
    if (jit == null || !jit.isCompilationTimeMonitoringSupported()) {
      return;
    }
    long deadline = System.nanoTime() + 60_000_000_000L;
    long last = jit.getTotalCompilationTime();
    long quietSince = System.nanoTime();
    while (System.nanoTime() - quietSince < 6_000_000_000L && System.nanoTime() - deadline < 0) {
      Proc.sleep(250);
      long now = jit.getTotalCompilationTime();
      if (now != last) {
        last = now;
        quietSince = System.nanoTime();
      }
    }
  }
}
