package dev.meshlet.bench;

import static dev.meshlet.bench.Facts.fmt0;
import static dev.meshlet.bench.Facts.loadavg;
import static dev.meshlet.bench.Facts.median;
import static dev.meshlet.bench.Facts.runs;
import static dev.meshlet.bench.H2Phase.f1;
import static dev.meshlet.bench.H2Phase.f2;

import io.grpc.internal.GrpcUtil;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.function.Consumer;
import org.jspecify.annotations.Nullable;

/**
 * The {@code grpc} phase: unary calls/s of a grpc-java client with {@link #IN_FLIGHT} calls in
 * flight, straight to a grpc-java server and through meshlet's L7 proxy (h2c to the client and to
 * the server), each target with its own long-lived client JVM so that rounds interleave without a
 * new JIT warm-up; each target is warmed up twice for {@code --warmup}, interleaved. Server, proxy
 * and client share the one measured CPU, as in the other phases.
 */
final class GrpcPhase {
  /** Calls in flight at once, over the client's one HTTP/2 connection. */
  static final int IN_FLIGHT = 32;

  /** gRPC's Netty loads its native transport; JDK 24+ warns unless native access is allowed. */
  private static final List<String> NETTY_JVM = List.of("--enable-native-access=ALL-UNNAMED");

  private final Options o;
  private final Consumer<String> line;
  private final List<Proc> started = new ArrayList<>();

  /** A client and the proxy between it and the server ({@code proxy} null: direct). */
  private record Target(
      String name, Proc client, @Nullable Proc proxy, double[] rate, double[] cpu) {}

  GrpcPhase(Options o, Consumer<String> line) {
    this.o = o;
    this.line = line;
  }

  void run() {
    try {
      measure();
    } finally {
      for (Proc p : started.reversed()) {
        p.close();
      }
      started.clear();
    }
  }

  private void measure() {
    Proc server = role("grpc-server", NETTY_JVM, "grpc-server");
    int serverPort = Integer.parseInt(server.expect("PORT ", Duration.ofSeconds(30)));
    Proc.awaitPort(serverPort, Duration.ofSeconds(10));
    Proc proxy = role("meshlet-l7", o.proxyJvm, "proxy", "l7", serverPort + "", "--h2c");
    int proxyPort = Integer.parseInt(proxy.expect("PORT ", Duration.ofSeconds(30)));
    Proc.awaitPort(proxyPort, Duration.ofSeconds(10));
    List<Target> t =
        List.of(target("direct", serverPort, null), target("meshlet L7 h2c→h2c", proxyPort, proxy));
    // two warm-up passes, interleaved: three JVMs (server, proxy, client) share the one CPU, and
    // after one pass of 20 s the direct rate still rose 2x from round to round
    for (int pass = 0; pass < 2; pass++) {
      for (Target x : t) {
        calls(x, o.warmup);
      }
    }
    for (int r = 0; r < o.rounds; r++) {
      for (Target x : t) { // interleaved, so drift hits both alike
        Proc p = x.proxy();
        long before = p == null ? 0 : Proc.cpuTicks(p.pid());
        long start = System.nanoTime();
        long n = calls(x, o.seconds);
        x.rate()[r] = n / ((System.nanoTime() - start) / 1e9);
        x.cpu()[r] = p == null ? Double.NaN : (Proc.cpuTicks(p.pid()) - before) * 10_000.0 / n;
      }
    }
    line.accept(
        "## gRPC unary calls (grpc-java "
            + GrpcUtil.IMPLEMENTATION_VERSION
            + ", "
            + IN_FLIGHT
            + " calls in flight on one connection, "
            + "a 24-byte message echoed; h2c)");
    line.accept("");
    line.accept(
        "| target | calls/s (median) | runs | ratio to direct | µs CPU added per call | proxy process CPU, µs per call |");
    line.accept("|---|---|---|---|---|---|");
    double direct = median(t.get(0).rate());
    for (Target x : t) {
      double m = median(x.rate());
      line.accept(
          "| "
              + x.name()
              + " | "
              + fmt0(m)
              + " | "
              + runs(x.rate())
              + " | "
              + f2(m / direct)
              + " | "
              + (x.proxy() == null ? "0" : f1(1e6 / m - 1e6 / direct))
              + " | "
              + (x.proxy() == null ? "–" : f1(median(x.cpu())))
              + " |");
    }
    line.accept("");
    line.accept("load average: " + loadavg());
    line.accept("");
  }

  private Target target(String name, int port, @Nullable Proc proxy) {
    Proc client = role("grpc-client", NETTY_JVM, "grpc-client", port + "", IN_FLIGHT + "");
    return new Target(name, client, proxy, new double[o.rounds], new double[o.rounds]);
  }

  /** Runs the target's client for {@code seconds}; returns the calls completed. */
  private long calls(Target t, double seconds) {
    t.client().send("run " + seconds);
    String[] r = t.client().expect("CALLS ", Duration.ofSeconds((long) seconds + 60)).split(" ");
    long ok = Long.parseLong(r[0]);
    long failed = Long.parseLong(r[1]);
    if (failed != 0 || ok == 0) {
      throw new IllegalStateException(
          "gRPC calls against " + t.name() + ": " + ok + " completed, " + failed + " failed");
    }
    System.err.printf(Locale.ROOT, "  grpc %-28s %.0f/s%n", t.name(), ok / seconds);
    return ok;
  }

  private Proc role(String name, List<String> jvm, String role, String... args) {
    Proc p = Proc.role(name, Proc.pinned(o.cpu, Proc.javaRole(jvm, role, args)));
    started.add(p);
    return p;
  }
}
