package dev.meshlet.bench;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import org.jspecify.annotations.Nullable;

/** The harness's options, parsed from {@code load}'s command line; see {@link #HELP}. */
final class Options {
  /** A proxy that is not ours, started from a command line; see README. */
  record Peer(String name, String layer, String command) {}

  String cpu = "0";
  String otherCpu = "1";
  @Nullable String latencyCpu;
  double seconds = 5;
  double warmup = 20;
  int rounds = 3;
  int connections = 64;
  int hold = 9000;
  double memoryWarmup = 10;
  double latencySeconds = 8;

  /**
   * Each latency run's own unmeasured start: the client is a fresh JVM, its JIT must settle first.
   */
  double latencyWarmup = 3;

  int latencyConnections = 32;
  double latencyLoad = 0.5;

  /**
   * Whose saturation rate the latency phase takes its fixed rate from: the latency client's own
   * (closed loop) or wrk's.
   */
  boolean latencyWrkSaturation;

  Set<String> phases =
      new LinkedHashSet<>(
          List.of("keepalive", "newconn", "bulk", "httpbulk", "latency", "memory", "split"));
  boolean l7 = true;
  List<Peer> peers = new ArrayList<>();
  List<String> proxyJvm = new ArrayList<>(List.of("-Xms512m", "-Xmx512m", "-XX:+AlwaysPreTouch"));
  @Nullable Path out;
  int nice;

  static Options parse(String[] args) {
    Options o = new Options();
    for (int i = 0; i < args.length; i++) {
      String a = args[i];
      String v = i + 1 < args.length ? args[i + 1] : "";
      switch (a) {
        case "--cpu" -> {
          o.cpu = v;
          i++;
        }
        case "--other-cpu" -> {
          o.otherCpu = v;
          i++;
        }
        case "--latency-cpu" -> {
          o.latencyCpu = v;
          i++;
        }
        case "--seconds" -> {
          o.seconds = Double.parseDouble(v);
          i++;
        }
        case "--warmup" -> {
          o.warmup = Double.parseDouble(v);
          i++;
        }
        case "--rounds" -> {
          o.rounds = Integer.parseInt(v);
          i++;
        }
        case "--connections" -> {
          o.connections = Integer.parseInt(v);
          i++;
        }
        case "--hold" -> {
          o.hold = Integer.parseInt(v);
          i++;
        }
        case "--memory-warmup" -> {
          o.memoryWarmup = Double.parseDouble(v);
          i++;
        }
        case "--latency-seconds" -> {
          o.latencySeconds = Double.parseDouble(v);
          i++;
        }
        case "--latency-warmup" -> {
          o.latencyWarmup = Double.parseDouble(v);
          i++;
        }
        case "--latency-connections" -> {
          o.latencyConnections = Integer.parseInt(v);
          i++;
        }
        case "--latency-load" -> {
          o.latencyLoad = Double.parseDouble(v);
          i++;
        }
        case "--latency-saturation" -> {
          if (!v.equals("client") && !v.equals("wrk")) {
            throw new IllegalArgumentException(
                "--latency-saturation takes client or wrk, not " + v);
          }
          o.latencyWrkSaturation = v.equals("wrk");
          i++;
        }
        case "--only" -> {
          o.phases = new LinkedHashSet<>(Arrays.asList(v.split(",")));
          i++;
        }
        case "--no-l7" -> o.l7 = false;
        case "--proxy-jvm" -> {
          o.proxyJvm = new ArrayList<>(Arrays.asList(v.strip().split("\\s+")));
          i++;
        }
        case "--out" -> {
          o.out = Path.of(v);
          i++;
        }
        case "--nice" -> {
          o.nice = Integer.parseInt(v);
          i++;
        }
        case "--peer" -> {
          o.peers.add(parsePeer(v));
          i++;
        }
        case "--quick" -> {
          o.seconds = 2;
          o.warmup = 1;
          o.rounds = 1;
          o.hold = 2000;
          o.latencySeconds = 3;
          o.latencyWarmup = 1;
        }
        case "--help", "-h" -> {
          System.out.println(HELP);
          System.exit(0);
        }
        default -> throw new IllegalArgumentException("unknown option: " + a + "\n" + HELP);
      }
    }
    if (o.latencyCpu == null) {
      o.latencyCpu = o.cpu;
    }
    return o;
  }

  String latencyCpu() {
    return latencyCpu != null ? latencyCpu : cpu;
  }

  static Peer parsePeer(String spec) {
    // name=layer:command, e.g. haproxy=l4:haproxy -db -f bench/peers/haproxy-l4.cfg
    int eq = spec.indexOf('=');
    int colon = spec.indexOf(':', eq + 1);
    if (eq <= 0 || colon < 0) {
      throw new IllegalArgumentException(
          "--peer '" + spec + "': expected name=l4:command or name=l7:command");
    }
    String layer = spec.substring(eq + 1, colon);
    if (!layer.equals("l4") && !layer.equals("l7")) {
      throw new IllegalArgumentException(
          "--peer '" + spec + "': layer " + layer + " (expected: l4 or l7)");
    }
    return new Peer(spec.substring(0, eq), layer, spec.substring(colon + 1));
  }

  static final String HELP =
      """
    java -jar bench/target/meshlet-bench.jar load [options]
      --cpu C              CPU (taskset list) for proxy, backend and load generator (default 0)
      --other-cpu C        CPU for the hold client and for the proxy in the split view (default 1)
      --latency-cpu C      CPU for the open-loop latency client (default: --cpu, with proxy and backend)
      --seconds S          measured seconds per wrk/bulk run (default 5)
      --warmup S           unmeasured run before each target (default 20: on one CPU the L7 proxy's JIT
                           is still compiling 15-20 s into a load)
      --rounds N           runs per target, the median is reported (default 3)
      --connections N      wrk connections (default 64)
      --hold N             idle connections held in the memory test (default 9000; fd limit 20000 per process)
      --memory-warmup S    keep-alive load (wrk) on each target before the memory test, so its JIT has
                           settled as in a proxy that has served traffic (default 10; 0: none)
      --latency-seconds S  open-loop latency run length (default 8); --latency-connections N (32)
      --latency-warmup S   unmeasured start of each latency run, the client being a fresh JVM (default 3)
      --latency-load F     fixed rate as a fraction of meshlet's saturation rate (default 0.5)
      --latency-saturation client|wrk
                           saturation measured by the latency client itself, closed loop (default),
                           or taken from wrk's keep-alive run (which costs the CPU less per request)
      --only a,b           phases: keepalive,newconn,bulk,httpbulk,latency,memory,split
                           (default all), and tls: TLS keep-alive, handshakes (ECDSA, RSA)
                           and L4 SNI passthrough beside HAProxy and nginx (not in the default;
                           needs haproxy, nginx, openssl); h2: h2c with h2load -c16 -m10 (meshlet,
                           HAProxy, nginx) beside meshlet's HTTP/1.1 keep-alive (needs h2load);
                           grpc: grpc-java unary calls/s, direct and through meshlet (not default)
      --peer NAME=LAYER:CMD  an external proxy measured in the same run; CMD listens on $LISTEN_PORT
                           and forwards to 127.0.0.1:$BACKEND_PORT ({port} and {backend_port} are
                           replaced in CMD too); LAYER is l4 or l7. Repeatable.
      --no-l7              skip meshlet's L7 proxy
      --proxy-jvm "ARGS"   JVM options of meshlet's proxy process (default -Xms512m -Xmx512m -XX:+AlwaysPreTouch)
      --out FILE           also write the markdown report to FILE
      --nice N             run every measured process with this niceness (e.g. -10 as root), so that
                           other work on a shared machine takes less of the measured CPU
      --quick              1 round of 2 s, 2000 held connections: a smoke test, not a measurement""";
}
