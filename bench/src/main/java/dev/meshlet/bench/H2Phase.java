package dev.meshlet.bench;

import static dev.meshlet.bench.Facts.fmt0;
import static dev.meshlet.bench.Facts.loadavg;
import static dev.meshlet.bench.Facts.median;
import static dev.meshlet.bench.Facts.runs;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.function.Consumer;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.jspecify.annotations.Nullable;

/**
 * The {@code h2} phase: HTTP/2 in clear text (h2c, prior knowledge) with {@code h2load -c 16 -m
 * 10}, against an nginx backend answering "ok" over h2c; meshlet L7 h2c→h2c, HAProxy h2c→h2c and
 * nginx h2c→HTTP/1.1 (nginx cannot proxy upstream in HTTP/2). Beside them, in the same rounds, the
 * HTTP/1.1 keep-alive figure (wrk) of the same meshlet build against the same nginx, for the target
 * "h2 CPU per request no worse than HTTP/1.1 keep-alive".
 */
final class H2Phase {
  static final int H2_CONNECTIONS = 16;
  static final int H2_STREAMS = 10;

  private static final Pattern H2_RATE = Pattern.compile("finished in [0-9.]+s, ([0-9.]+) req/s");
  private static final Pattern H2_DONE =
      Pattern.compile(
          "requests: \\d+ total, \\d+ started, \\d+ done, (\\d+) succeeded, (\\d+) failed, (\\d+) errored");
  private static final Pattern WRK_RATE = Pattern.compile("Requests/sec:\\s+([0-9.]+)");
  private static final Pattern WRK_DONE = Pattern.compile("(\\d+) requests in ");

  private final Options o;
  private final Path work;
  private final Consumer<String> line;
  private final List<Proc> started = new ArrayList<>();

  /** What is measured: {@code h2} picks h2load or wrk; {@code proc} is the proxy (null: none). */
  private record Target(String name, boolean h2, int port, @Nullable Proc proc) {}

  /** One run: the rate and the requests that succeeded in it. */
  private record Run(double rate, long requests) {}

  H2Phase(Options o, Path work, Consumer<String> line) {
    this.o = o;
    this.work = work;
    this.line = line;
  }

  void run() throws IOException {
    try {
      measure();
    } finally {
      for (Proc p : started) {
        p.terminate();
      }
      started.clear();
    }
  }

  private void measure() throws IOException {
    int h2Port = Proc.freePort();
    int h1Port = Proc.freePort();
    backend(h2Port, h1Port);
    List<Target> t = new ArrayList<>();
    t.add(new Target("direct h2c", true, h2Port, null));
    t.add(new Target("meshlet L7 h2c→h2c", true, meshlet(h2Port, "--h2c"), last()));
    t.add(new Target("HAProxy h2c→h2c", true, haproxy(h2Port), last()));
    t.add(new Target("nginx h2c→HTTP/1.1", true, nginxProxy(h1Port), last()));
    t.add(new Target("direct HTTP/1.1", false, h1Port, null));
    t.add(new Target("meshlet L7 HTTP/1.1", false, meshlet(h1Port), last()));

    Map<String, double[]> rps = new LinkedHashMap<>();
    Map<String, double[]> cpu = new LinkedHashMap<>();
    for (Target x : t) {
      rps.put(x.name(), new double[o.rounds]);
      cpu.put(x.name(), new double[o.rounds]);
      load(x, o.warmup);
    }
    for (int r = 0; r < o.rounds; r++) {
      for (Target x : t) { // interleaved, so drift hits every target alike
        Proc p = x.proc();
        long before = p == null ? 0 : Proc.cpuTicks(p.pid());
        Run run = load(x, o.seconds);
        at(rps, x.name())[r] = run.rate();
        at(cpu, x.name())[r] =
            p == null ? Double.NaN : (Proc.cpuTicks(p.pid()) - before) * 10_000.0 / run.requests();
      }
    }
    line.accept(
        "## HTTP/2 in clear text (h2load -c"
            + H2_CONNECTIONS
            + " -m"
            + H2_STREAMS
            + ", nginx answering \"ok\" over h2c), beside HTTP/1.1 keep-alive (wrk -t1 -c"
            + o.connections
            + ")");
    line.accept("");
    line.accept(
        "| target | requests/s (median) | runs | µs CPU added per request | proxy process CPU, µs per request |");
    line.accept("|---|---|---|---|---|");
    Map<String, Double> m = new LinkedHashMap<>();
    Map<String, Double> c = new LinkedHashMap<>();
    for (Target x : t) {
      m.put(x.name(), median(at(rps, x.name())));
      c.put(x.name(), median(at(cpu, x.name())));
    }
    for (Target x : t) {
      String base = x.h2() ? "direct h2c" : "direct HTTP/1.1";
      line.accept(
          "| "
              + x.name()
              + " | "
              + fmt0(at(m, x.name()))
              + " | "
              + runs(at(rps, x.name()))
              + " | "
              + (x.proc() == null ? "0" : f1(1e6 / at(m, x.name()) - 1e6 / at(m, base)))
              + " | "
              + (x.proc() == null ? "–" : f1(at(c, x.name())))
              + " |");
    }
    line.accept("");
    double h2 = at(c, "meshlet L7 h2c→h2c");
    double h1 = at(c, "meshlet L7 HTTP/1.1");
    line.accept(
        "Target (h2 proxy CPU per request no worse than HTTP/1.1 keep-alive): meshlet h2c→h2c "
            + f1(h2)
            + " µs vs HTTP/1.1 "
            + f1(h1)
            + " µs per request ("
            + f2(h2 / h1)
            + "×): "
            + (h2 <= h1 ? "met" : "not met")
            + ". Proxy CPU meshlet/HAProxy in h2c: "
            + f2(h2 / at(c, "HAProxy h2c→h2c"))
            + "×. nginx's upstream is HTTP/1.1 (its proxy module has no HTTP/2), to the same"
            + " nginx backend's HTTP/1.1 listener.");
    line.accept("");
    line.accept("load average: " + loadavg());
    line.accept("");
  }

  private Run load(Target t, double seconds) {
    long secs = Math.max(1, Math.round(seconds));
    String url = "http://127.0.0.1:" + t.port() + "/";
    List<String> cmd =
        t.h2()
            ? List.of(
                "h2load",
                "-t1",
                "-c" + H2_CONNECTIONS,
                "-m" + H2_STREAMS,
                "-D",
                String.valueOf(secs),
                url)
            : List.of("wrk", "-t1", "-c" + o.connections, "-d" + secs + "s", url);
    String out = Proc.run(Proc.pinned(o.cpu, cmd), Duration.ofSeconds(secs + 60));
    Matcher rate = (t.h2() ? H2_RATE : WRK_RATE).matcher(out);
    Matcher done = (t.h2() ? H2_DONE : WRK_DONE).matcher(out);
    if (!rate.find() || !done.find()) {
      throw new IllegalStateException(cmd.get(0) + " against " + t.name() + " said:\n" + out);
    }
    if (t.h2() && (Long.parseLong(done.group(2)) != 0 || Long.parseLong(done.group(3)) != 0)) {
      throw new IllegalStateException("h2load against " + t.name() + " saw failures:\n" + out);
    }
    if (!t.h2() && out.contains("Non-2xx")) {
      throw new IllegalStateException("wrk against " + t.name() + " saw errors:\n" + out);
    }
    Run run = new Run(Double.parseDouble(rate.group(1)), Long.parseLong(done.group(1)));
    System.err.printf(Locale.ROOT, "  %s %-28s %.0f/s%n", cmd.get(0), t.name(), run.rate());
    return run;
  }

  // ---------------------------------------------------------------- servers

  private Proc last() {
    return started.get(started.size() - 1);
  }

  private int meshlet(int backend, String... flags) {
    List<String> args = new ArrayList<>(List.of("l7", String.valueOf(backend)));
    args.addAll(List.of(flags));
    Proc p =
        Proc.role(
            "meshlet-l7",
            Proc.pinned(o.cpu, Proc.javaRole(o.proxyJvm, "proxy", args.toArray(new String[0]))));
    started.add(p);
    int port = Integer.parseInt(p.expect("PORT ", Duration.ofSeconds(30)));
    Proc.awaitPort(port, Duration.ofSeconds(10));
    return port;
  }

  /** HAProxy in h2c on both sides: {@code proto h2} on the bind line and on the server line. */
  private int haproxy(int backend) throws IOException {
    int port = Proc.freePort();
    String conf =
        """
        global
          maxconn 9800
          nbthread 1
        defaults
          mode http
          option http-keep-alive
          http-reuse always
          timeout connect 5s
          timeout client 600s
          timeout server 600s
          timeout http-keep-alive 600s
        frontend bench_in
          bind 127.0.0.1:%d proto h2
          default_backend bench_out
        backend bench_out
          server s1 127.0.0.1:%d proto h2
        """
            .formatted(port, backend);
    Path file = work.resolve("haproxy-h2-" + port + ".cfg");
    Files.writeString(file, conf);
    Proc p =
        Proc.external(
            "haproxy",
            Proc.pinned(o.cpu, List.of("haproxy", "-db", "-f", file.toString())),
            Map.of(),
            work.resolve("haproxy-h2-" + port + ".log"));
    started.add(p);
    Proc.awaitPort(port, Duration.ofSeconds(10));
    return port;
  }

  /** The backend: one nginx answering "ok" on an h2c listener and on an HTTP/1.1 one. */
  private void backend(int h2Port, int h1Port) throws IOException {
    nginx(
        "nginx-h2-backend",
        """
          server {
            listen 127.0.0.1:%d http2 backlog=4096;
            listen 127.0.0.1:%d backlog=4096;
            location / { return 200 "ok"; }
          }
        """
            .formatted(h2Port, h1Port),
        h2Port);
  }

  /** nginx accepting h2c, forwarding in HTTP/1.1 with keep-alive (its proxy has no HTTP/2). */
  private int nginxProxy(int h1Backend) throws IOException {
    int port = Proc.freePort();
    nginx(
        "nginx-h2-proxy",
        """
          upstream backend {
            server 127.0.0.1:%d;
            keepalive 128;
            keepalive_requests 100000000;
            keepalive_timeout 600s;
          }
          server {
            listen 127.0.0.1:%d http2 backlog=4096;
            location / {
              proxy_pass http://backend; proxy_http_version 1.1; proxy_set_header Connection "";
            }
          }
        """
            .formatted(h1Backend, port),
        port);
    return port;
  }

  private void nginx(String name, String servers, int port) throws IOException {
    Path dir = work.resolve(name + "-" + port);
    Files.createDirectories(dir.resolve("logs"));
    String conf = NginxConf.http(dir, servers);
    Files.writeString(dir.resolve("nginx.conf"), conf);
    Proc p =
        Proc.external(
            name,
            Proc.pinned(
                o.cpu,
                List.of("nginx", "-p", dir + "/", "-c", dir.resolve("nginx.conf").toString())),
            Map.of(),
            work.resolve(name + "-" + port + ".log"));
    started.add(p);
    Proc.awaitPort(port, Duration.ofSeconds(10));
  }

  /** The results for {@code target}: every target is put in before it is measured. */
  private static <V> V at(Map<String, V> results, String target) {
    return Objects.requireNonNull(results.get(target), () -> "no results for " + target);
  }

  static String f1(double v) {
    return String.format(Locale.ROOT, "%.1f", v);
  }

  static String f2(double v) {
    return String.format(Locale.ROOT, "%.2f", v);
  }
}
