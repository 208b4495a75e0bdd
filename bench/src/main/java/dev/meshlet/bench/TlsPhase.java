package dev.meshlet.bench;

import static dev.meshlet.bench.Facts.fmt0;
import static dev.meshlet.bench.Facts.loadavg;
import static dev.meshlet.bench.Facts.median;
import static dev.meshlet.bench.Facts.runs;

import dev.meshlet.testpki.TestPki;
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
 * The {@code tls} phase: TLS termination at L7 (meshlet, HAProxy, nginx) with the same
 * certificates, written as PEM from {@link TestPki} (ECDSA P-256 and RSA 2048), and TLS passthrough
 * at L4 (meshlet routing by SNI), each beside its plaintext counterpart in one run.
 *
 * <p>Keep-alive: {@code wrk} over https, the rounds interleaved. New handshakes: {@code openssl
 * s_time -new -tls1_3 -www /} (a full handshake and one request per connection, never a resumed
 * session: wrk with {@code Connection: close} resumes its session on every reconnect), several
 * clients at once so the one CPU never waits; per target the handshakes per second and the server's
 * own CPU per handshake.
 */
final class TlsPhase {
  /** Handshake clients at once: one would leave the CPU idle while it waits for an answer. */
  private static final int HANDSHAKE_CLIENTS = 4;

  private static final Pattern RPS = Pattern.compile("Requests/sec:\\s+([0-9.]+)");
  private static final Pattern CONNECTIONS = Pattern.compile("(\\d+) connections in [0-9.]+s;");

  private final Options o;
  private final Path work;
  private final int backendPort;
  private final Consumer<String> line;
  private final List<Proc> started = new ArrayList<>();

  /** A server wrk or s_time points at; {@code proc} is the proxy whose CPU is read (null: none). */
  private record Target(String name, String url, @Nullable Proc proc) {}

  /** A certificate and key as PEM files, and both in one file (HAProxy's {@code crt}). */
  private record Pem(Path chain, Path key, Path combined) {}

  TlsPhase(Options o, Path work, int backendPort, Consumer<String> line) {
    this.o = o;
    this.work = work;
    this.backendPort = backendPort;
    this.line = line;
  }

  void run() throws IOException {
    TestPki pki = TestPki.create();
    Pem ec = pem(pki.leaf("localhost"), "ecdsa");
    Pem rsa = pem(pki.rsaLeaf("localhost"), "rsa");
    try {
      keepAlive(ec);
    } finally {
      stopAll();
    }
    try {
      handshakes(ec, rsa);
    } finally {
      stopAll();
    }
  }

  private Pem pem(TestPki.Leaf leaf, String name) throws IOException {
    TestPki.Pem p = leaf.writePem(work.resolve(name + ".crt"), work.resolve(name + ".key"));
    Path combined = work.resolve(name + ".pem");
    Files.writeString(combined, Files.readString(p.chain()) + Files.readString(p.key()));
    return new Pem(p.chain(), p.key(), combined);
  }

  // ---------------------------------------------------------------- keep-alive

  private void keepAlive(Pem ec) throws IOException {
    int tlsBackend = nginxTls(ec, null);
    List<Target> t = new ArrayList<>();
    t.add(new Target("direct", http(backendPort), null));
    t.add(new Target("direct TLS", https(tlsBackend), null));
    t.add(new Target("meshlet L7", http(meshlet("l7", backendPort)), last()));
    t.add(
        new Target(
            "meshlet L7 TLS",
            https(
                meshlet(
                    "l7", backendPort, "--tls-cert", ec.chain() + "", "--tls-key", ec.key() + "")),
            last()));
    t.add(new Target("HAProxy L7", http(haproxy(null)), last()));
    t.add(new Target("HAProxy L7 TLS", https(haproxy(ec)), last()));
    t.add(new Target("nginx L7 TLS", https(nginxTls(ec, backendPort)), last()));
    t.add(new Target("meshlet L4", http(meshlet("l4", backendPort)), last()));
    t.add(
        new Target(
            "meshlet L4 SNI passthrough",
            https(meshlet("l4", tlsBackend, "--sni", "localhost")),
            last()));

    Map<String, double[]> rps = new LinkedHashMap<>();
    Map<String, double[]> cpu = new LinkedHashMap<>();
    for (Target x : t) {
      rps.put(x.name(), new double[o.rounds]);
      cpu.put(x.name(), new double[o.rounds]);
      wrk(x, o.warmup);
    }
    for (int r = 0; r < o.rounds; r++) {
      for (Target x : t) { // interleaved, so drift hits every target alike
        Proc p = x.proc();
        long before = p == null ? 0 : Proc.cpuTicks(p.pid());
        double rate = wrk(x, o.seconds);
        at(rps, x.name())[r] = rate;
        at(cpu, x.name())[r] =
            p == null
                ? Double.NaN
                : (Proc.cpuTicks(p.pid()) - before) * 10_000.0 / (rate * seconds());
      }
    }
    line.accept("## TLS keep-alive (wrk -t1 -c" + o.connections + " over https, ECDSA P-256)");
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
      // https targets against direct TLS (nginx answering over TLS), direct TLS against direct
      String base =
          x.name().equals("direct TLS") || !x.url().startsWith("https") ? "direct" : "direct TLS";
      double added = 1e6 / at(m, x.name()) - 1e6 / at(m, base);
      line.accept(
          "| "
              + x.name()
              + " | "
              + fmt0(at(m, x.name()))
              + " | "
              + runs(at(rps, x.name()))
              + " | "
              + (x.name().equals("direct") ? "0" : f1(added))
              + (x.name().equals("direct TLS") ? " (vs direct)" : "")
              + " | "
              + (x.proc() == null ? "–" : f1(at(c, x.name())))
              + " |");
    }
    line.accept("");
    line.accept(
        "TLS adds per request (proxy CPU, TLS minus plaintext): meshlet L7 "
            + f1(at(c, "meshlet L7 TLS") - at(c, "meshlet L7"))
            + " µs, HAProxy "
            + f1(at(c, "HAProxy L7 TLS") - at(c, "HAProxy L7"))
            + " µs. Proxy CPU meshlet/HAProxy: plaintext "
            + f2(at(c, "meshlet L7") / at(c, "HAProxy L7"))
            + "×, TLS "
            + f2(at(c, "meshlet L7 TLS") / at(c, "HAProxy L7 TLS"))
            + "×. L4 µs CPU added per request: plain "
            + f1(1e6 / at(m, "meshlet L4") - 1e6 / at(m, "direct"))
            + ", SNI passthrough "
            + f1(1e6 / at(m, "meshlet L4 SNI passthrough") - 1e6 / at(m, "direct TLS"))
            + ".");
    line.accept("");
    line.accept("load average: " + loadavg());
    line.accept("");
  }

  private double wrk(Target t, double seconds) {
    String out =
        Proc.run(
            Proc.pinned(
                o.cpu,
                List.of(
                    "wrk",
                    "-t1",
                    "-c" + o.connections,
                    "-d" + Math.max(1, Math.round(seconds)) + "s",
                    t.url())),
            Duration.ofSeconds((long) seconds + 60));
    Matcher m = RPS.matcher(out);
    if (!m.find()) {
      throw new IllegalStateException("wrk against " + t.name() + " printed no rate:\n" + out);
    }
    double rps = Double.parseDouble(m.group(1));
    System.err.printf(Locale.ROOT, "  wrk %-28s %.0f/s%n", t.name(), rps);
    return rps;
  }

  // ---------------------------------------------------------------- handshakes

  private void handshakes(Pem ec, Pem rsa) throws IOException {
    List<Target> t = new ArrayList<>();
    for (Pem p : List.of(ec, rsa)) {
      String key = p == ec ? "ECDSA P-256" : "RSA 2048";
      t.add(
          new Target(
              "meshlet L7 " + key,
              https(
                  meshlet(
                      "l7", backendPort, "--tls-cert", p.chain() + "", "--tls-key", p.key() + "")),
              last()));
      t.add(new Target("HAProxy L7 " + key, https(haproxy(p)), last()));
      t.add(new Target("nginx L7 " + key, https(nginxTls(p, backendPort)), last()));
    }
    Map<String, double[]> rate = new LinkedHashMap<>();
    Map<String, double[]> cpu = new LinkedHashMap<>();
    for (Target x : t) {
      rate.put(x.name(), new double[o.rounds]);
      cpu.put(x.name(), new double[o.rounds]);
      sTime(x, o.warmup);
    }
    for (int r = 0; r < o.rounds; r++) {
      for (Target x : t) {
        Proc p = x.proc();
        long before = p == null ? 0 : Proc.cpuTicks(p.pid());
        long start = System.nanoTime();
        long n = sTime(x, o.seconds);
        double secs = (System.nanoTime() - start) / 1e9;
        at(rate, x.name())[r] = n / secs;
        at(cpu, x.name())[r] =
            p == null ? Double.NaN : (Proc.cpuTicks(p.pid()) - before) * 10_000.0 / n;
      }
    }
    line.accept(
        "## New TLS handshakes (openssl s_time -new -tls1_3 -www /, "
            + HANDSHAKE_CLIENTS
            + " clients; one full handshake and one request per connection)");
    line.accept("");
    line.accept(
        "| target | handshakes/s (median) | runs | proxy process CPU, µs per handshake | handshakes/s vs HAProxy |");
    line.accept("|---|---|---|---|---|");
    for (Target x : t) {
      String peer = x.name().replaceFirst("^(meshlet|nginx) ", "HAProxy ");
      double mine = median(at(rate, x.name()));
      line.accept(
          "| "
              + x.name()
              + " | "
              + fmt0(mine)
              + " | "
              + runs(at(rate, x.name()))
              + " | "
              + f1(median(at(cpu, x.name())))
              + " | "
              + f2(mine / median(at(rate, peer)))
              + " |");
    }
    line.accept("");
    line.accept("load average: " + loadavg());
    line.accept("");
  }

  /** Runs the handshake clients against {@code t} for {@code seconds}; returns connections made. */
  private long sTime(Target t, double seconds) {
    String port = t.url().replaceAll(".*:(\\d+)/$", "$1");
    long secs = Math.max(1, Math.round(seconds));
    String one =
        "openssl s_time -connect localhost:"
            + port
            + " -new -tls1_3 -www / -time "
            + secs
            + " 2>&1 | grep ' connections in ' | head -1";
    StringBuilder sh = new StringBuilder();
    for (int i = 0; i < HANDSHAKE_CLIENTS; i++) {
      sh.append('(').append(one).append(") & ");
    }
    sh.append("wait");
    String out =
        Proc.run(
            Proc.pinned(o.cpu, List.of("sh", "-c", sh.toString())), Duration.ofSeconds(secs + 60));
    long n = 0;
    int clients = 0;
    Matcher m = CONNECTIONS.matcher(out);
    while (m.find()) {
      n += Long.parseLong(m.group(1));
      clients++;
    }
    if (clients != HANDSHAKE_CLIENTS || n == 0) {
      throw new IllegalStateException("s_time against " + t.name() + " said:\n" + out);
    }
    System.err.printf(Locale.ROOT, "  s_time %-28s %d handshakes%n", t.name(), n);
    return n;
  }

  // ---------------------------------------------------------------- servers

  private static String http(int port) {
    return "http://localhost:" + port + "/";
  }

  private static String https(int port) {
    return "https://localhost:" + port + "/";
  }

  private Proc last() {
    return started.get(started.size() - 1);
  }

  private void stopAll() {
    for (Proc p : started) {
      p.terminate();
    }
    started.clear();
  }

  private int meshlet(String layer, int backend, String... flags) {
    List<String> args = new ArrayList<>(List.of(layer, String.valueOf(backend)));
    args.addAll(List.of(flags));
    Proc p =
        Proc.role(
            "meshlet-" + layer,
            Proc.pinned(o.cpu, Proc.javaRole(o.proxyJvm, "proxy", args.toArray(new String[0]))));
    started.add(p);
    int port = Integer.parseInt(p.expect("PORT ", Duration.ofSeconds(30)));
    Proc.awaitPort(port, Duration.ofSeconds(10));
    return port;
  }

  /** HAProxy at L7 in front of the plain backend, terminating TLS with {@code tls} if set. */
  private int haproxy(@Nullable Pem tls) throws IOException {
    int port = Proc.freePort();
    String conf =
        """
        global
          maxconn 9800
          nbthread 1
          ssl-default-bind-options ssl-min-ver TLSv1.2
        defaults
          mode http
          option http-keep-alive
          http-reuse always
          timeout connect 5s
          timeout client 600s
          timeout server 600s
          timeout http-keep-alive 600s
        frontend bench_in
          bind 127.0.0.1:%d%s
          default_backend bench_out
        backend bench_out
          server s1 127.0.0.1:%d
        """
            .formatted(port, tls == null ? "" : " ssl crt " + tls.combined(), backendPort);
    Path file = work.resolve("haproxy-" + port + ".cfg");
    Files.writeString(file, conf);
    Proc p =
        Proc.external(
            "haproxy",
            Proc.pinned(o.cpu, List.of("haproxy", "-db", "-f", file.toString())),
            Map.of(),
            work.resolve("haproxy-" + port + ".log"));
    started.add(p);
    Proc.awaitPort(port, Duration.ofSeconds(10));
    return port;
  }

  /**
   * nginx terminating TLS with {@code tls}: in front of {@code upstream} (keep-alive to it), or
   * answering "ok" itself when {@code upstream} is null (the TLS backend of L4 passthrough).
   */
  private int nginxTls(Pem tls, @Nullable Integer upstream) throws IOException {
    int port = Proc.freePort();
    Path dir = work.resolve("nginx-tls-" + port);
    Files.createDirectories(dir.resolve("logs"));
    String location =
        upstream == null
            ? "return 200 \"ok\";"
            : "proxy_pass http://backend; proxy_http_version 1.1; proxy_set_header Connection \"\";";
    String conf =
        NginxConf.http(
            dir,
            """
              upstream backend {
                server 127.0.0.1:%1$d;
                keepalive 128;
                keepalive_requests 100000000;
                keepalive_timeout 600s;
              }
              server {
                listen 127.0.0.1:%2$d ssl backlog=4096;
                ssl_protocols TLSv1.2 TLSv1.3;
                ssl_certificate %3$s;
                ssl_certificate_key %4$s;
                location / { %5$s }
              }
            """
                .formatted(
                    upstream == null ? backendPort : upstream,
                    port,
                    tls.chain(),
                    tls.key(),
                    location));
    Files.writeString(dir.resolve("nginx.conf"), conf);
    Proc p =
        Proc.external(
            "nginx-tls",
            Proc.pinned(
                o.cpu,
                List.of("nginx", "-p", dir + "/", "-c", dir.resolve("nginx.conf").toString())),
            Map.of(),
            work.resolve("nginx-tls-" + port + ".log"));
    started.add(p);
    Proc.awaitPort(port, Duration.ofSeconds(10));
    return port;
  }

  /** The results for {@code target}: every target is put in before it is measured. */
  private static <V> V at(Map<String, V> results, String target) {
    return Objects.requireNonNull(results.get(target), () -> "no results for " + target);
  }

  private long seconds() {
    return Math.max(1, Math.round(o.seconds));
  }

  private static String f1(double v) {
    return String.format(Locale.ROOT, "%.1f", v);
  }

  private static String f2(double v) {
    return String.format(Locale.ROOT, "%.2f", v);
  }
}
