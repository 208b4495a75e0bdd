package dev.meshlet.bench;

import static dev.meshlet.bench.Facts.fmt0;
import static dev.meshlet.bench.Facts.loadavg;
import static dev.meshlet.bench.Facts.machine;
import static dev.meshlet.bench.Facts.median;
import static dev.meshlet.bench.Facts.medianOf;
import static dev.meshlet.bench.Facts.roundRate;
import static dev.meshlet.bench.Facts.runs;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

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
  private final Targets procs;

  private Harness(Options o) throws IOException {
    this.o = o;
    this.work = Files.createTempDirectory("meshlet-bench-");
    this.procs = new Targets(o, work);
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
      h.procs.stopNginx();
    }
  }

  private static void deleteTree(Path dir) {
    try (var paths = Files.walk(dir)) {
      paths.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
    } catch (IOException | UncheckedIOException e) {
      System.err.println("harness: could not delete " + dir + ": " + e);
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
    procs.startNginx();
    if (o.phases.contains("keepalive")) {
      keepAlive(false);
    }
    if (o.phases.contains("newconn")) {
      newConnections();
    }
    if (o.phases.contains("bulk")) {
      bulk();
    }
    if (o.phases.contains("httpbulk") && o.l7) {
      httpBulk();
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
    if (o.phases.contains("tls")) {
      new TlsPhase(o, work, procs.nginxPort(), this::line).run();
    }
    if (o.phases.contains("h2")) {
      new H2Phase(o, work, this::line).run();
    }
    if (o.phases.contains("grpc")) {
      new GrpcPhase(o, this::line).run();
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
    List<Targets.Target> targets = new ArrayList<>();
    targets.add(new Targets.Target("direct", "direct", procs.nginxPort(), null, false));
    List<Targets.Target> proxies = procs.proxies(procs.nginxPort(), proxyCpu, true, true);
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
      for (Targets.Target t : targets) {
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
      proxies.forEach(Targets.Target::stop);
    }
  }

  private void newConnections() throws Exception {
    List<Targets.Target> targets = new ArrayList<>();
    targets.add(new Targets.Target("direct", "direct", procs.nginxPort(), null, false));
    List<Targets.Target> proxies = procs.proxies(procs.nginxPort(), o.cpu, true, false);
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
      for (Targets.Target t : targets) {
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
      proxies.forEach(Targets.Target::stop);
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

  private Wrk measureWrk(List<Targets.Target> targets, boolean close) {
    Map<String, double[]> rps = new LinkedHashMap<>();
    Map<String, double[]> cpu = new LinkedHashMap<>();
    for (Targets.Target t : targets) {
      rps.put(t.name(), new double[o.rounds]);
      cpu.put(t.name(), new double[o.rounds]);
      wrk(t, o.warmup, close); // JIT warm-up, and discards the first connections' setup
    }
    for (int r = 0; r < o.rounds; r++) {
      for (Targets.Target t : targets) { // interleaved, so drift hits every target alike
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

  private double wrk(Targets.Target t, double seconds, boolean close) {
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
    List<Targets.Target> targets = new ArrayList<>();
    targets.add(new Targets.Target("direct", "direct", port, null, false));
    List<Targets.Target> proxies = procs.proxies(port, o.cpu, true, false);
    targets.addAll(proxies);
    try {
      line("## L4 bulk throughput (one direction, 1 MiB direct-buffer reads/writes at both ends)");
      line("");
      line("| target | streams | Gbit/s (median) | GiB/s | runs | ratio to direct |");
      line("|---|---|---|---|---|---|");
      for (int streams : new int[] {1, 8}) {
        Map<String, double[]> g = new LinkedHashMap<>();
        for (Targets.Target t : targets) {
          g.put(t.name(), new double[o.rounds]);
        }
        for (int r = 0; r < o.rounds; r++) {
          for (Targets.Target t : targets) {
            measured(g, t.name())[r] = bulkRun(t, streams, r == 0 ? o.warmup : 1);
          }
        }
        double direct = median(measured(g, "direct"));
        for (Targets.Target t : targets) {
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
      proxies.forEach(Targets.Target::stop);
      server.close();
    }
  }

  /** An HTTP download through the L7 proxies: a Content-Length body, then a chunked one. */
  private void httpBulk() throws Exception {
    Proc server =
        Proc.role(
            "http-bulk-server", Proc.pinned(o.cpu, Proc.javaRole(List.of(), "http-bulk-server")));
    int port = Integer.parseInt(server.expect("PORT ", Duration.ofSeconds(30)));
    List<Targets.Target> targets = new ArrayList<>();
    targets.add(new Targets.Target("direct", "direct", port, null, false));
    List<Targets.Target> proxies = procs.proxies(port, o.cpu, false, true);
    targets.addAll(proxies);
    try {
      line("## L7 download throughput (one response, 1 MiB writes; Content-Length vs chunked)");
      line("");
      line("| target | body | Gbit/s (median) | runs | ratio to direct |");
      line("|---|---|---|---|---|");
      for (String path : new String[] {"/cl", "/chunked"}) {
        Map<String, double[]> g = new LinkedHashMap<>();
        for (Targets.Target t : targets) {
          g.put(t.name(), new double[o.rounds]);
        }
        for (int r = 0; r < o.rounds; r++) {
          for (Targets.Target t : targets) {
            measured(g, t.name())[r] = httpBulkRun(t, path, r == 0 ? o.warmup : 1);
          }
        }
        double direct = median(measured(g, "direct"));
        for (Targets.Target t : targets) {
          double m = median(measured(g, t.name()));
          line(
              String.format(
                  Locale.ROOT,
                  "| %s | %s | %.1f | %s | %.2f |",
                  t.name(),
                  path.equals("/cl") ? "Content-Length" : "chunked",
                  m,
                  runs(measured(g, t.name())),
                  m / direct));
        }
      }
      line("");
      line("load average: " + loadavg());
      line("");
    } finally {
      proxies.forEach(Targets.Target::stop);
      server.close();
    }
  }

  private double bulkRun(Targets.Target t, int streams, double warmup) {
    return gbits(t, warmup, "bulk-client", streams + " streams", String.valueOf(streams));
  }

  private double httpBulkRun(Targets.Target t, String path, double warmup) {
    return gbits(t, warmup, "http-bulk-client", path, path);
  }

  /** Runs a throughput client role against {@code t}: {@code role <port> <arg> <warmup> <s>}. */
  private double gbits(Targets.Target t, double warmup, String role, String label, String arg) {
    Proc c =
        Proc.role(
            role,
            Proc.pinned(
                o.cpu,
                Proc.javaRole(
                    List.of(),
                    role,
                    String.valueOf(t.port()),
                    arg,
                    String.valueOf(warmup),
                    String.valueOf(o.seconds))));
    try {
      double g =
          Double.parseDouble(
              c.expect("GBITS ", Duration.ofSeconds((long) (warmup + o.seconds) + 30)));
      System.err.printf(Locale.ROOT, "  %s %-14s %s %.1f Gbit/s%n", role, t.name(), label, g);
      return g;
    } finally {
      c.close();
    }
  }

  private void latency() throws Exception {
    List<Targets.Target> targets = new ArrayList<>();
    targets.add(new Targets.Target("direct", "direct", procs.nginxPort(), null, false));
    List<Targets.Target> proxies = procs.proxies(procs.nginxPort(), o.cpu, true, true);
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
        Targets.Target ours =
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
        List<Targets.Target> these = new ArrayList<>();
        these.add(targets.get(0));
        for (Targets.Target t : proxies) {
          if (t.layer().equals(layer)) {
            these.add(t);
          }
        }
        Map<String, List<double[]>> runs = new LinkedHashMap<>();
        for (Targets.Target t : these) {
          runs.put(t.name(), new ArrayList<>());
          latencyRun(t, rate, 1, 1); // warm-up
        }
        for (int r = 0; r < o.rounds; r++) {
          for (Targets.Target t : these) {
            measured(runs, t.name()).add(latencyRun(t, rate, o.latencyWarmup, o.latencySeconds));
          }
        }
        double directP99 = medianOf(measured(runs, "direct"), 1);
        for (Targets.Target t : these) {
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
      proxies.forEach(Targets.Target::stop);
    }
  }

  private double[] latencyRun(Targets.Target t, double rate, double warmup, double seconds) {
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
    new MemoryPhase(o, procs, this::line, this::wrk).run();
  }
}
