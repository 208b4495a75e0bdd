package dev.meshlet.bench;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.jspecify.annotations.Nullable;

/**
 * The load harness: starts an nginx backend, the proxies under test (meshlet L4 and L7, and any
 * external peer command) and the load generators as separate processes pinned with {@code taskset},
 * measures each target against a direct connection in the same run, and prints markdown tables.
 * Options are described in {@code bench/README.md} and by {@code load --help}.
 */
final class Harness {
  private final Options o;
  private final Path work;
  private final StringBuilder report = new StringBuilder();
  private final Map<String, Double> keepAliveRps = new LinkedHashMap<>();
  private @Nullable Proc nginx;
  private int nginxPort;

  private Harness(Options o) throws IOException {
    this.o = o;
    this.work = Files.createTempDirectory("meshlet-bench-");
  }

  static void main(String[] args) throws Exception {
    Options o = Options.parse(args);
    Proc.nice = o.nice;
    Harness h = new Harness(o);
    boolean[] failed = {true};
    // Ctrl-C or a kill: stop nginx, peers and roles too; and the work folder (configs, logs) goes
    // unless the run failed, when its logs say why
    Runtime.getRuntime()
        .addShutdownHook(
            new Thread(
                () -> {
                  Proc.stopAll();
                  if (!failed[0]) {
                    deleteTree(h.work);
                  } else {
                    System.err.println("harness: logs kept in " + h.work);
                  }
                },
                "bench-cleanup"));
    try {
      h.run();
      failed[0] = false;
    } finally {
      h.stopNginx();
    }
  }

  private static void deleteTree(Path dir) {
    try (var paths = Files.walk(dir)) {
      paths.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
    } catch (IOException | UncheckedIOException e) {
      System.err.println("harness: could not delete " + dir + ": " + e);
    }
  }

  // ---------------------------------------------------------------- options

  /** A proxy that is not ours, started from a command line; see README. */
  record Peer(String name, String layer, String command) {}

  static final class Options {
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
     * Each latency run's own unmeasured start: the client is a fresh JVM, its JIT must settle
     * first.
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
        new LinkedHashSet<>(List.of("keepalive", "newconn", "bulk", "latency", "memory", "split"));
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
        --only a,b           phases: keepalive,newconn,bulk,latency,memory,split (default all)
        --peer NAME=LAYER:CMD  an external proxy measured in the same run; CMD listens on $LISTEN_PORT
                             and forwards to 127.0.0.1:$BACKEND_PORT ({port} and {backend_port} are
                             replaced in CMD too); LAYER is l4 or l7. Repeatable.
        --no-l7              skip meshlet's L7 proxy
        --proxy-jvm "ARGS"   JVM options of meshlet's proxy process (default -Xms512m -Xmx512m -XX:+AlwaysPreTouch)
        --out FILE           also write the markdown report to FILE
        --nice N             run every measured process with this niceness (e.g. -10 as root), so that
                             other work on a shared machine takes less of the measured CPU
        --quick              1 round of 2 s, 2000 held connections: a smoke test, not a measurement""";

  // ---------------------------------------------------------------- targets

  /** Something wrk can point at: the backend itself (direct) or a proxy in front of it. */
  record Target(String name, String layer, int port, @Nullable Proc proc, boolean meshlet) {
    void stop() {
      if (proc != null) {
        if (meshlet) {
          proc.close();
        } else {
          proc.terminate();
        }
      }
    }
  }

  private Target meshlet(String layer, int backendPort, String cpu) {
    Proc p =
        Proc.role(
            "meshlet-" + layer,
            Proc.pinned(
                cpu, Proc.javaRole(o.proxyJvm, "proxy", layer, String.valueOf(backendPort))));
    int port = Integer.parseInt(p.expect("PORT ", Duration.ofSeconds(30)));
    Proc.awaitPort(port, Duration.ofSeconds(10));
    return new Target("meshlet " + layer.toUpperCase(Locale.ROOT), layer, port, p, true);
  }

  private Target peer(Peer peer, int backendPort, String cpu) {
    int port = Proc.freePort();
    String cmd =
        peer.command()
            .replace("{port}", String.valueOf(port))
            .replace("{backend_port}", String.valueOf(backendPort));
    Proc p =
        Proc.external(
            peer.name(),
            Proc.pinned(cpu, List.of("sh", "-c", "exec " + cmd)),
            Map.of(
                "LISTEN_PORT", String.valueOf(port), "BACKEND_PORT", String.valueOf(backendPort)),
            work.resolve(peer.name() + "-" + peer.layer() + ".log"));
    Proc.awaitPort(port, Duration.ofSeconds(10));
    return new Target(
        peer.name() + " " + peer.layer().toUpperCase(Locale.ROOT), peer.layer(), port, p, false);
  }

  private List<Target> proxies(int backendPort, String cpu, boolean l4, boolean l7) {
    List<Target> t = new ArrayList<>();
    if (l4) {
      t.add(meshlet("l4", backendPort, cpu));
    }
    if (l7 && o.l7 && L7Role.available()) {
      t.add(meshlet("l7", backendPort, cpu));
    }
    for (Peer p : o.peers) {
      if ((p.layer().equals("l4") && l4) || (p.layer().equals("l7") && l7)) {
        t.add(peer(p, backendPort, cpu));
      }
    }
    return t;
  }

  private void startNginx() throws IOException {
    nginxPort = Proc.freePort();
    Path dir = work.resolve("nginx");
    Files.createDirectories(dir.resolve("logs"));
    String conf =
        """
        worker_processes 1;
        daemon off;
        master_process off;
        pid %1$s/nginx.pid;
        error_log stderr warn;
        worker_rlimit_nofile 20000;
        events { worker_connections 20000; multi_accept on; }
        http {
          access_log off;
          keepalive_timeout 600s;
          keepalive_requests 100000000;
          client_body_temp_path %1$s/body;
          proxy_temp_path %1$s/proxy;
          fastcgi_temp_path %1$s/fastcgi;
          uwsgi_temp_path %1$s/uwsgi;
          scgi_temp_path %1$s/scgi;
          server {
            listen 127.0.0.1:%2$d backlog=4096;
            location / { return 200 "ok"; }
          }
        }
        """
            .formatted(dir, nginxPort);
    Files.writeString(dir.resolve("nginx.conf"), conf);
    nginx =
        Proc.external(
            "nginx",
            Proc.pinned(
                o.cpu,
                List.of("nginx", "-p", dir + "/", "-c", dir.resolve("nginx.conf").toString())),
            Map.of(),
            work.resolve("nginx.log"));
    Proc.awaitPort(nginxPort, Duration.ofSeconds(10));
  }

  private void stopNginx() {
    if (nginx != null) {
      nginx.terminate();
      nginx = null;
    }
  }

  // ---------------------------------------------------------------- run

  private void run() throws Exception {
    line("# meshlet load harness");
    line("");
    line("- machine: " + machine());
    line("- load average at start: " + loadavg());
    line(
        "- method: proxy, nginx backend and load generator pinned to CPU "
            + o.cpu
            + " (taskset); medians of "
            + o.rounds
            + " runs of "
            + o.seconds
            + " s after "
            + o.warmup
            + " s warm-up per target");
    line("- proxy JVM options: " + String.join(" ", o.proxyJvm));
    if (o.nice != 0) {
      line("- every measured process runs with nice " + o.nice);
    }
    line("");
    startNginx();
    if (o.phases.contains("keepalive")) {
      keepAlive(false);
    }
    if (o.phases.contains("newconn")) {
      newConnections();
    }
    if (o.phases.contains("bulk")) {
      bulk();
    }
    if (o.phases.contains("latency")) {
      latency();
    }
    if (o.phases.contains("split")) {
      keepAlive(true);
    }
    if (o.phases.contains("memory")) {
      memory();
    }
    line("- load average at end: " + loadavg());
    if (o.out != null) {
      Files.writeString(o.out, report);
    }
  }

  private void line(String s) {
    System.out.println(s);
    System.out.flush();
    report.append(s).append('\n');
  }

  /** µs of CPU added per request: the difference of the inverse rates, measured in the same run. */
  private static String added(double rps, double direct) {
    return String.format(Locale.ROOT, "%.1f", 1e6 / rps - 1e6 / direct);
  }

  private void keepAlive(boolean split) throws Exception {
    String proxyCpu = split ? o.otherCpu : o.cpu;
    List<Target> targets = new ArrayList<>();
    targets.add(new Target("direct", "direct", nginxPort, null, false));
    List<Target> proxies = proxies(nginxPort, proxyCpu, true, true);
    targets.addAll(proxies);
    try {
      Wrk w = measureWrk(targets, false);
      Map<String, double[]> rps = w.rps();
      line(
          split
              ? "## Keep-alive, split CPUs (second view): proxy on CPU "
                  + o.otherCpu
                  + ", wrk and nginx on CPU "
                  + o.cpu
              : "## Keep-alive request/response (wrk -t1 -c"
                  + o.connections
                  + ", nginx answering \"ok\")");
      line("");
      line(
          "| target | requests/s (median) | runs | "
              + (split ? "ratio to direct" : "µs CPU added per request")
              + " | proxy process CPU, µs per request |");
      line("|---|---|---|---|---|");
      double direct = median(measured(rps, "direct"));
      for (Target t : targets) {
        double m = median(measured(rps, t.name()));
        if (!split) {
          keepAliveRps.put(t.name(), m);
        }
        String last =
            split
                ? String.format(Locale.ROOT, "%.2f", m / direct)
                : t.proc() == null ? "0" : added(m, direct);
        line(
            "| "
                + t.name()
                + " | "
                + fmt0(m)
                + " | "
                + runs(measured(rps, t.name()))
                + " | "
                + last
                + " | "
                + cpuCell(measured(w.cpu(), t.name()))
                + " |");
      }
      line("");
      line("load average: " + loadavg());
      line("");
    } finally {
      proxies.forEach(Target::stop);
    }
  }

  private void newConnections() throws Exception {
    List<Target> targets = new ArrayList<>();
    targets.add(new Target("direct", "direct", nginxPort, null, false));
    List<Target> proxies = proxies(nginxPort, o.cpu, true, false);
    targets.addAll(proxies);
    try {
      Wrk w = measureWrk(targets, true);
      Map<String, double[]> rps = w.rps();
      line(
          "## New connection per request (wrk -t1 -c" + o.connections + " -H 'Connection: close')");
      line("");
      line(
          "| target | connections/s (median) | runs | µs CPU added per connection | proxy process CPU, µs per connection |");
      line("|---|---|---|---|---|");
      double direct = median(measured(rps, "direct"));
      for (Target t : targets) {
        double m = median(measured(rps, t.name()));
        line(
            "| "
                + t.name()
                + " | "
                + fmt0(m)
                + " | "
                + runs(measured(rps, t.name()))
                + " | "
                + (t.proc() == null ? "0" : added(m, direct))
                + " | "
                + cpuCell(measured(w.cpu(), t.name()))
                + " |");
      }
      line("");
      line("load average: " + loadavg());
      line("");
    } finally {
      proxies.forEach(Target::stop);
    }
  }

  /** The results measured for {@code target}: every target is put in before it is measured. */
  private static <V> V measured(Map<String, V> results, String target) {
    return Objects.requireNonNull(results.get(target), () -> "no results for target " + target);
  }

  /**
   * Requests/s per target and round, and the proxy process's CPU µs per request (NaN for direct).
   */
  private record Wrk(Map<String, double[]> rps, Map<String, double[]> cpu) {}

  private Wrk measureWrk(List<Target> targets, boolean close) {
    Map<String, double[]> rps = new LinkedHashMap<>();
    Map<String, double[]> cpu = new LinkedHashMap<>();
    for (Target t : targets) {
      rps.put(t.name(), new double[o.rounds]);
      cpu.put(t.name(), new double[o.rounds]);
      wrk(t, o.warmup, close); // JIT warm-up, and discards the first connections' setup
    }
    for (int r = 0; r < o.rounds; r++) {
      for (Target t : targets) { // interleaved, so drift hits every target alike
        Proc p = t.proc();
        long before = p == null ? 0 : Proc.cpuTicks(p.pid());
        double rate = wrk(t, o.seconds, close);
        measured(rps, t.name())[r] = rate;
        // ticks are 10 ms: over a 5 s run at >= 2,000 requests/s that is <= 1 µs per request
        measured(cpu, t.name())[r] =
            p == null
                ? Double.NaN
                : (Proc.cpuTicks(p.pid()) - before)
                    * 10_000.0
                    / (rate * Math.max(1, Math.round(o.seconds)));
        if (close) {
          Proc.sleep(1000); // let TIME_WAIT sockets of the previous run age a little
        }
      }
    }
    return new Wrk(rps, cpu);
  }

  private static String cpuCell(double[] perRound) {
    return Double.isNaN(perRound[0]) ? "–" : String.format(Locale.ROOT, "%.1f", median(perRound));
  }

  private static final Pattern RPS = Pattern.compile("Requests/sec:\\s+([0-9.]+)");
  private static final Pattern ERRORS =
      Pattern.compile("(Socket errors:.*|Non-2xx or 3xx responses:.*)");

  private double wrk(Target t, double seconds, boolean close) {
    List<String> cmd =
        new ArrayList<>(
            List.of(
                "wrk", "-t1", "-c" + o.connections, "-d" + Math.max(1, Math.round(seconds)) + "s"));
    if (close) {
      cmd.addAll(List.of("-H", "Connection: close"));
    }
    cmd.add("http://127.0.0.1:" + t.port() + "/");
    String out = Proc.run(Proc.pinned(o.cpu, cmd), Duration.ofSeconds((long) seconds + 60));
    Matcher m = RPS.matcher(out);
    if (!m.find()) {
      throw new IllegalStateException("wrk against " + t.name() + " printed no rate:\n" + out);
    }
    double rps = Double.parseDouble(m.group(1));
    Matcher e = ERRORS.matcher(out);
    StringBuilder errs = new StringBuilder();
    while (e.find()) {
      errs.append(' ').append(e.group(1).strip());
    }
    System.err.printf(
        Locale.ROOT,
        "  wrk %-14s %s %.0f/s%s%n",
        t.name(),
        close ? "close" : "keep-alive",
        rps,
        errs);
    return rps;
  }

  private void bulk() throws Exception {
    Proc server =
        Proc.role("bulk-server", Proc.pinned(o.cpu, Proc.javaRole(List.of(), "bulk-server")));
    int port = Integer.parseInt(server.expect("PORT ", Duration.ofSeconds(30)));
    List<Target> targets = new ArrayList<>();
    targets.add(new Target("direct", "direct", port, null, false));
    List<Target> proxies = proxies(port, o.cpu, true, false);
    targets.addAll(proxies);
    try {
      line("## L4 bulk throughput (one direction, 1 MiB direct-buffer reads/writes at both ends)");
      line("");
      line("| target | streams | Gbit/s (median) | GiB/s | runs | ratio to direct |");
      line("|---|---|---|---|---|---|");
      for (int streams : new int[] {1, 8}) {
        Map<String, double[]> g = new LinkedHashMap<>();
        for (Target t : targets) {
          g.put(t.name(), new double[o.rounds]);
        }
        for (int r = 0; r < o.rounds; r++) {
          for (Target t : targets) {
            measured(g, t.name())[r] = bulkRun(t, streams, r == 0 ? o.warmup : 1);
          }
        }
        double direct = median(measured(g, "direct"));
        for (Target t : targets) {
          double m = median(measured(g, t.name()));
          line(
              String.format(
                  Locale.ROOT,
                  "| %s | %d | %.1f | %.2f | %s | %.2f |",
                  t.name(),
                  streams,
                  m,
                  m / 8 * 1e9 / (1L << 30),
                  runs(measured(g, t.name())),
                  m / direct));
        }
      }
      line("");
      line("load average: " + loadavg());
      line("");
    } finally {
      proxies.forEach(Target::stop);
      server.close();
    }
  }

  private double bulkRun(Target t, int streams, double warmup) {
    Proc c =
        Proc.role(
            "bulk-client",
            Proc.pinned(
                o.cpu,
                Proc.javaRole(
                    List.of(),
                    "bulk-client",
                    String.valueOf(t.port()),
                    String.valueOf(streams),
                    String.valueOf(warmup),
                    String.valueOf(o.seconds))));
    try {
      double g =
          Double.parseDouble(
              c.expect("GBITS ", Duration.ofSeconds((long) (warmup + o.seconds) + 30)));
      System.err.printf(Locale.ROOT, "  bulk %-14s %d streams %.1f Gbit/s%n", t.name(), streams, g);
      return g;
    } finally {
      c.close();
    }
  }

  private void latency() throws Exception {
    List<Target> targets = new ArrayList<>();
    targets.add(new Target("direct", "direct", nginxPort, null, false));
    List<Target> proxies = proxies(nginxPort, o.cpu, true, true);
    targets.addAll(proxies);
    try {
      line(
          "## Latency at a fixed rate (open loop, "
              + o.latencyConnections
              + " connections, client on CPU "
              + o.latencyCpu()
              + "; µs from the scheduled send time)");
      line("");
      line(
          "| layer | target | rate/s | p50 µs | p99 µs | p99.9 µs | max µs | achieved/s | errors | p99 target µs |");
      List<String> notes = new ArrayList<>();
      line("|---|---|---|---|---|---|---|---|---|---|");
      for (String layer : List.of("l4", "l7")) {
        Target ours =
            proxies.stream()
                .filter(t -> t.meshlet() && t.layer().equals(layer))
                .findFirst()
                .orElse(null);
        if (ours == null) {
          continue;
        }
        double sat;
        if (o.latencyWrkSaturation) {
          Double measured = keepAliveRps.get(ours.name());
          sat = measured != null ? measured : wrk(ours, o.seconds, false);
        } else {
          sat =
              latencyRun(ours, 0, o.warmup, o.seconds)[
                  4]; // a fresh JVM: warmed up as in the keep-alive phase
        }
        double rate = roundRate(sat * o.latencyLoad);
        notes.add(
            "- "
                + layer.toUpperCase(Locale.ROOT)
                + ": "
                + ours.name()
                + " saturates at "
                + Math.round(sat)
                + " requests/s ("
                + (o.latencyWrkSaturation ? "wrk, keep-alive" : "this client, closed loop")
                + "); fixed rate "
                + o.latencyLoad
                + " × that");
        List<Target> these = new ArrayList<>();
        these.add(targets.get(0));
        for (Target t : proxies) {
          if (t.layer().equals(layer)) {
            these.add(t);
          }
        }
        Map<String, List<double[]>> runs = new LinkedHashMap<>();
        for (Target t : these) {
          runs.put(t.name(), new ArrayList<>());
          latencyRun(t, rate, 1, 1); // warm-up
        }
        for (int r = 0; r < o.rounds; r++) {
          for (Target t : these) {
            measured(runs, t.name()).add(latencyRun(t, rate, o.latencyWarmup, o.latencySeconds));
          }
        }
        double directP99 = medianOf(measured(runs, "direct"), 1);
        for (Target t : these) {
          List<double[]> rs = measured(runs, t.name());
          line(
              String.format(
                  Locale.ROOT,
                  "| %s | %s | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f | %s |",
                  layer.toUpperCase(Locale.ROOT),
                  t.name(),
                  rate,
                  medianOf(rs, 0),
                  medianOf(rs, 1),
                  medianOf(rs, 2),
                  medianOf(rs, 3),
                  medianOf(rs, 4),
                  medianOf(rs, 5),
                  t.proc() == null
                      ? "–"
                      : String.format(Locale.ROOT, "≤ %.0f", 2 * directP99 + 500)));
        }
      }
      line("");
      notes.forEach(this::line);
      line(
          "medians of "
              + o.rounds
              + " runs of "
              + o.latencySeconds
              + " s (after "
              + o.latencyWarmup
              + " s unmeasured); load average: "
              + loadavg());
      line("");
    } finally {
      proxies.forEach(Target::stop);
    }
  }

  private double[] latencyRun(Target t, double rate, double warmup, double seconds) {
    Proc c =
        Proc.role(
            "latency",
            Proc.pinned(
                o.latencyCpu(),
                Proc.javaRole(
                    List.of("-Xms256m", "-Xmx256m"),
                    "latency",
                    String.valueOf(t.port()),
                    String.valueOf(rate),
                    String.valueOf(o.latencyConnections),
                    String.valueOf(warmup),
                    String.valueOf(seconds))));
    try {
      String[] f =
          c.expect("LAT ", Duration.ofSeconds((long) ((warmup + seconds) * 2) + 30)).split(" ");
      double[] v = new double[f.length];
      for (int i = 0; i < f.length; i++) {
        v[i] = Double.parseDouble(f[i]);
      }
      System.err.printf(
          Locale.ROOT,
          "  latency %-14s @%.0f/s p50 %.0f p99 %.0f p99.9 %.0f max %.0f µs, achieved %.0f/s, errors %.0f%n",
          t.name(),
          rate,
          v[0],
          v[1],
          v[2],
          v[3],
          v[4],
          v[5]);
      return v;
    } finally {
      c.close();
    }
  }

  private void memory() throws Exception {
    line(
        "## Memory per idle connection ("
            + o.hold
            + " held, growth measured over the last "
            + Math.min(o.hold, MEASURED_BATCH)
            + "; client in another process, nginx backend)");
    line("");
    line(
        "| target | held | heap after GC, per conn | RSS growth, per conn | heap + RSS growth per conn | threads (OS) | target |");
    line("|---|---|---|---|---|---|---|");
    List<String> layers = new ArrayList<>(List.of("l4"));
    if (o.l7 && L7Role.available()) {
      layers.add("l7");
    }
    for (String layer : layers) {
      Target t = meshlet(layer, nginxPort, o.cpu);
      try {
        memoryOf(t, layer.equals("l4") ? "≤ 4 KiB" : "≤ 2 KiB");
      } finally {
        t.stop();
      }
    }
    for (Peer p : o.peers) {
      Target t = peer(p, nginxPort, o.cpu);
      try {
        memoryOf(t, "");
      } finally {
        t.stop();
      }
    }
    line("");
    line(
        "heap is measured inside the proxy's JVM after System.gc(); with -Xms = -Xmx and AlwaysPreTouch the heap is");
    line(
        "resident from the start, so RSS growth is native memory only (thread stacks, NIO, malloc). JVMs' RSS is read");
    line(
        "after `System.trim_native_heap` (glibc otherwise keeps memory the JIT freed, which showed as growth). Each");
    line(
        "target first serves "
            + fmt0(o.memoryWarmup)
            + " s of keep-alive load (wrk), so its JIT has settled. A negative RSS");
    line(
        "growth (the process gave back more than the connections took) counts as 0 in the sum. Peers: RSS only.");
    line("load average: " + loadavg());
    line("");
  }

  /**
   * Connections whose memory is measured in the memory test; any more of {@code --hold} are held
   * first.
   */
  private static final int MEASURED_BATCH = 5000;

  private void memoryOf(Target t, String goal) {
    Proc proc = t.proc();
    // warm up: connect and release a few hundred, so class loading and JIT are not counted per
    // connection
    Proc warm = hold(t, 500);
    warm.close();
    if (o.memoryWarmup > 0) {
      wrk(t, o.memoryWarmup, false);
    }
    // the first batch is held unmeasured: what the proxy allocates once (tables, JIT, buffers) is
    // then
    // in the baseline, and the growth measured is the next batch's alone
    int measured = Math.min(o.hold, MEASURED_BATCH);
    Proc first = o.hold > measured ? hold(t, o.hold - measured) : null;
    Proc held = null;
    try {
      int failed = 0;
      if (first != null) {
        failed += Integer.parseInt(first.expect("HELD ", Duration.ofSeconds(300)).split(" ")[1]);
      }
      Proc.sleep(1500);
      long[] before = mem(t);
      held = hold(t, measured);
      String[] h = held.expect("HELD ", Duration.ofSeconds(300)).split(" ");
      int n = Integer.parseInt(h[0]);
      failed += Integer.parseInt(h[1]);
      Proc.sleep(2000);
      long[] after = mem(t);
      double heap = t.meshlet() ? (after[0] - before[0]) / (double) n : Double.NaN;
      double rss = (after[1] - before[1]) / (double) n;
      line(
          String.format(
              Locale.ROOT,
              "| %s | %d%s | %s | %.2f KiB | %s | %d → %d | %s |",
              t.name(),
              n + o.hold - measured,
              failed == 0 ? "" : " (" + failed + " failed)",
              t.meshlet() ? String.format(Locale.ROOT, "%.2f KiB", heap / 1024) : "–",
              rss / 1024,
              t.meshlet()
                  ? String.format(Locale.ROOT, "%.2f KiB", (heap + Math.max(0, rss)) / 1024)
                  : String.format(Locale.ROOT, "%.2f KiB", Math.max(0, rss) / 1024),
              before[2],
              after[2],
              goal));
    } finally {
      if (held != null) {
        held.close();
      }
      if (first != null) {
        first.close();
      }
      if (proc != null) {
        Proc.sleep(500);
      }
    }
  }

  private Proc hold(Target t, int n) {
    Proc p =
        Proc.role(
            "hold",
            Proc.pinned(
                o.otherCpu,
                Proc.javaRole(List.of(), "hold", String.valueOf(t.port()), String.valueOf(n))));
    if (n <= 500) {
      p.expect("HELD ", Duration.ofSeconds(120));
    }
    return p;
  }

  /** heap bytes (meshlet only), RSS bytes, OS threads of the target process. */
  private long[] mem(Target t) {
    Proc p = t.proc();
    if (p == null) {
      throw new IllegalStateException("no process for " + t.name());
    }
    if (t.meshlet()) {
      p.send("mem");
      String[] f = p.expect("MEM ", Duration.ofSeconds(60)).split(" ");
      return new long[] {Long.parseLong(f[0]), Long.parseLong(f[1]), Proc.threads(p.pid())};
    }
    Proc.trimNativeHeap(p.pid()); // a JVM peer (Jetty's ProxyHandler): measured as meshlet is
    return new long[] {0, Proc.rss(p.pid()), Proc.threads(p.pid())};
  }

  // ---------------------------------------------------------------- facts and statistics

  static String machine() {
    String cpu = "?";
    try {
      for (String l : Files.readAllLines(Path.of("/proc/cpuinfo"))) {
        if (l.startsWith("model name")) {
          cpu = l.substring(l.indexOf(':') + 1).strip();
          break;
        }
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return Runtime.getRuntime().availableProcessors()
        + " CPUs visible to the harness ("
        + cpu
        + "), "
        + "JDK "
        + System.getProperty("java.vm.version")
        + " ("
        + System.getProperty("java.vm.vendor")
        + "), "
        + "Linux "
        + System.getProperty("os.version");
  }

  static String loadavg() {
    try {
      return Files.readString(Path.of("/proc/loadavg")).strip();
    } catch (IOException e) {
      return "?";
    }
  }

  /** Two significant digits, at least 100/s. */
  static double roundRate(double r) {
    if (r < 100) {
      return 100;
    }
    double unit = Math.pow(10, Math.floor(Math.log10(r)) - 1);
    return Math.floor(r / unit) * unit;
  }

  static double median(double[] v) {
    double[] s = v.clone();
    Arrays.sort(s);
    return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  }

  static double medianOf(List<double[]> runs, int field) {
    double[] v = new double[runs.size()];
    for (int i = 0; i < v.length; i++) {
      v[i] = runs.get(i)[field];
    }
    return median(v);
  }

  static String runs(double[] v) {
    StringBuilder b = new StringBuilder();
    for (double d : v) {
      b.append(b.isEmpty() ? "" : ", ")
          .append(d >= 100 ? fmt0(d) : String.format(Locale.ROOT, "%.1f", d));
    }
    return b.toString();
  }

  static String fmt0(double d) {
    return String.format(Locale.ROOT, "%,.0f", d);
  }
}
