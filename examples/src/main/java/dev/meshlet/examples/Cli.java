package dev.meshlet.examples;

import dev.meshlet.core.Backend;
import dev.meshlet.core.Balancer;
import dev.meshlet.core.Cluster;
import dev.meshlet.l4.TcpProxy;
import dev.meshlet.l4.TcpProxyBuilder;
import dev.meshlet.l7.HttpProxy;
import dev.meshlet.l7.HttpProxyBuilder;
import java.io.PrintStream;
import java.net.BindException;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import org.jspecify.annotations.Nullable;

/**
 * The command line: {@code meshlet l4 …} and {@code meshlet l7 …}, a thin layer that parses flags
 * and calls the public builders, nothing more.
 */
public final class Cli {

  static final String USAGE =
      """
      usage:
        java -jar meshlet.jar                      run the demo (see: java -jar meshlet.jar demo --help)
        java -jar meshlet.jar l4 --listen HOST:PORT --backend HOST:PORT [--backend HOST:PORT ...]
                 [--balancer round-robin] [--connect-timeout 5s] [--idle-timeout 1h]
                 [--max-connections 10000] [--drain-timeout 10s] [--defer-resolution]
        java -jar meshlet.jar l7 --listen HOST:PORT
                 [--route PATH_PREFIX=HOST:PORT[,HOST:PORT...]]      (repeatable, kept in order)
                 [--host-route HOST=HOST:PORT[,...]]                (repeatable; *.example.com allowed)
                 [--header-route NAME:VALUE=HOST:PORT[,...]]        (repeatable)
                 [--default HOST:PORT[,...]] [--balancer round-robin] [--connect-timeout 5s]
                 [--response-timeout 15s] [--drain-timeout 10s] [--access-log] [--defer-resolution]
      The values shown are the defaults.
        --connect-timeout    one attempt to connect to a backend (l4 makes up to 3)
        --idle-timeout       l4: a connection with no bytes either way is closed (0s: never)
        --max-connections    l4: client connections open at once; more are closed on accept
        --response-timeout   l7: how long a backend may take to begin its response, then 504;
                             a backend may also stay silent that long within an exchange
        --drain-timeout      how long SIGTERM or Ctrl-C waits for in-flight work
        --access-log         l7: one line per request on standard output (default off)
        --defer-resolution   start even if a backend name does not resolve now (without it: exit 2)
      balancers: round-robin, random, weighted-round-robin, least-connections, consistent-hash
      durations: 500ms, 2s, 1m, 1h or ISO-8601 (PT2S). Routes are tried in order; the first match wins.
      --listen 127.0.0.1:0 picks a free port; the real one is printed as "listening on HOST:PORT".
      SIGTERM or Ctrl-C stops accepting, lets in-flight work finish (up to --drain-timeout), exits 0.
      """;

  /** The flags that take no value. */
  private static final List<String> SWITCHES = List.of("--access-log", "--defer-resolution");

  /** The flags {@code l4} knows; any other is named as unknown before anything else is checked. */
  static final Set<String> L4_FLAGS =
      Set.of(
          "--listen",
          "--backend",
          "--balancer",
          "--connect-timeout",
          "--idle-timeout",
          "--max-connections",
          "--drain-timeout",
          "--defer-resolution");

  /** The flags {@code l7} knows. */
  static final Set<String> L7_FLAGS =
      Set.of(
          "--listen",
          "--route",
          "--host-route",
          "--header-route",
          "--default",
          "--balancer",
          "--connect-timeout",
          "--response-timeout",
          "--drain-timeout",
          "--access-log",
          "--defer-resolution");

  /**
   * {@link HttpProxyBuilder#idleTimeout(Duration)}'s default: a client connection waiting this long
   * for a response is given up on, so a longer response timeout needs a longer one.
   */
  private static final Duration CLIENT_IDLE_DEFAULT = Duration.ofSeconds(60);

  /** How much the client idle timeout outlasts the response timeout, so that the 504 says why. */
  private static final Duration IDLE_MARGIN = Duration.ofSeconds(1);

  private Cli() {}

  /** A bad flag or value: the message is the one-line reason. */
  static final class UsageException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    UsageException(String message) {
      super(message);
    }
  }

  /** Runs {@code meshlet l4|l7 …}; returns the process exit code. */
  static int run(
      String mode, List<String> args, PrintStream out, PrintStream err, CountDownLatch stop) {
    try {
      return switch (mode) {
        case "l4" -> runL4(args, out, stop);
        case "l7" -> runL7(args, out, stop);
        default ->
            throw new UsageException("unknown mode '" + mode + "' (expected: l4, l7 or demo)");
      };
    } catch (UsageException | IllegalArgumentException | IllegalStateException e) {
      err.println("meshlet: " + e.getMessage());
      err.print(USAGE);
      return 2;
    } catch (BindException e) {
      err.println("meshlet: " + e.getMessage());
      return 1;
    } catch (Exception e) {
      err.println("meshlet: " + e);
      return 1;
    }
  }

  private static int runL4(List<String> args, PrintStream out, CountDownLatch stop)
      throws Exception {
    Flags f = new Flags(args, L4_FLAGS);
    TcpProxyBuilder b = TcpProxy.builder();
    String[] listen = listen(f.required("--listen"));
    b.listen(listen[0], Integer.parseInt(listen[1]));
    List<String> backends = f.all("--backend");
    if (backends.isEmpty()) {
      throw new UsageException("l4: give at least one --backend HOST:PORT");
    }
    boolean resolve = !f.flag("--defer-resolution");
    for (String backend : backends) {
      b.backends(backend(backend, resolve));
    }
    String balancer = f.optional("--balancer");
    if (balancer != null) {
      b.balancer(balancer(balancer));
    }
    String v;
    if ((v = f.optional("--connect-timeout")) != null) {
      b.connectTimeout(duration(v, "--connect-timeout"));
    }
    if ((v = f.optional("--idle-timeout")) != null) {
      b.idleTimeout(duration(v, "--idle-timeout"));
    }
    if ((v = f.optional("--max-connections")) != null) {
      b.maxConnections(integer(v, "--max-connections"));
    }
    b.drainTimeout(duration(f.optionalOr("--drain-timeout", "10s"), "--drain-timeout"));
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
      await(stop);
      out.println("meshlet l4 draining (" + proxy.stats().active() + " connections open)");
      out.flush();
    }
    out.println("meshlet l4 stopped");
    return 0;
  }

  private static int runL7(List<String> args, PrintStream out, CountDownLatch stop)
      throws Exception {
    Flags f = new Flags(args, L7_FLAGS);
    HttpProxyBuilder b = HttpProxy.builder();
    String[] listen = listen(f.required("--listen"));
    b.listen(listen[0], Integer.parseInt(listen[1]));
    String balancerName = f.optional("--balancer");
    Balancer balancer = balancerName == null ? Balancer.roundRobin() : balancer(balancerName);
    boolean resolve = !f.flag("--defer-resolution");
    String rt = f.optional("--response-timeout");
    Duration responseTimeout = rt == null ? null : duration(rt, "--response-timeout");
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
          cluster(
              "route-" + (++routes) + " " + match,
              flag.value().substring(eq + 1),
              balancer,
              resolve);
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
      b.defaultRoute(cluster("default", def, balancer, resolve));
    }
    if (routes == 0 && def == null) {
      throw new UsageException(
          "l7: give at least one --route, --host-route, --header-route or --default");
    }
    String v;
    if ((v = f.optional("--connect-timeout")) != null) {
      b.connectTimeout(duration(v, "--connect-timeout"));
    }
    if (f.flag("--access-log")) {
      b.accessLog(true);
    }
    b.drainTimeout(duration(f.optionalOr("--drain-timeout", "10s"), "--drain-timeout"));
    f.done();
    try (HttpProxy proxy = b.start()) {
      out.println("meshlet l7 listening on " + listen[0] + ":" + proxy.port());
      out.flush();
      await(stop);
      out.println("meshlet l7 draining");
      out.flush();
    }
    out.println("meshlet l7 stopped");
    return 0;
  }

  private static void await(CountDownLatch stop) throws InterruptedException {
    stop.await();
  }

  static Cluster cluster(String name, String backends, Balancer balancer, boolean resolve) {
    Cluster.Builder c = Cluster.builder(name).balancer(balancer);
    for (String part : backends.split(",", -1)) {
      c.backends(backend(part, resolve));
    }
    return c.build();
  }

  /**
   * Parses {@code HOST:PORT}; with {@code resolve}, fails unless the host resolves now: a name that
   * does not would otherwise start a proxy that fails every connection to it without a word.
   */
  static Backend backend(String text, boolean resolve) {
    Backend backend;
    try {
      backend = Backend.parse(text);
    } catch (IllegalArgumentException e) {
      throw new UsageException(
          Objects.requireNonNullElse(e.getMessage(), "backend '" + text + "': not HOST:PORT"));
    }
    if (resolve) {
      try {
        InetAddress.getAllByName(backend.host());
      } catch (UnknownHostException e) {
        throw new UsageException(
            "backend '"
                + text
                + "': host '"
                + backend.host()
                + "' does not resolve ("
                + e.getMessage()
                + "); check the name, or give --defer-resolution to start anyway");
      }
    }
    return backend;
  }

  /**
   * {@code HOST:PORT}, {@code :PORT} or {@code PORT}; returns {host, port} with the port checked to
   * be 0-65535.
   */
  static String[] listen(String text) {
    int colon = text.lastIndexOf(':');
    String digits = text.substring(colon + 1);
    if (digits.isEmpty() || !digits.chars().allMatch(c -> c >= '0' && c <= '9')) {
      throw new UsageException("--listen '" + text + "': expected HOST:PORT (or PORT)");
    }
    String host = colon < 0 ? "0.0.0.0" : text.substring(0, colon);
    String port = text.substring(colon + 1);
    if (host.isEmpty()) {
      host = "0.0.0.0";
    }
    if (host.startsWith("[") && host.endsWith("]")) {
      host = host.substring(1, host.length() - 1);
    }
    port(port, "--listen");
    return new String[] {host, port};
  }

  static int port(String text, String flag) {
    int port = integer(text, flag);
    if (port < 0 || port > 65535) {
      throw new UsageException(flag + ": port " + port + " out of range (expected: 0-65535)");
    }
    return port;
  }

  static int integer(String text, String flag) {
    try {
      return Integer.parseInt(text);
    } catch (NumberFormatException e) {
      throw new UsageException(flag + ": '" + text + "' is not a number");
    }
  }

  static Balancer balancer(String name) {
    return switch (name.toLowerCase(Locale.ROOT)) {
      case "round-robin" -> Balancer.roundRobin();
      case "random" -> Balancer.random();
      case "weighted-round-robin" -> Balancer.weightedRoundRobin();
      case "least-connections" -> Balancer.leastConnections();
      case "consistent-hash" -> Balancer.consistentHash();
      default ->
          throw new UsageException(
              "--balancer '"
                  + name
                  + "' (expected: round-robin, random, weighted-round-robin, least-connections, consistent-hash)");
    };
  }

  /**
   * {@code 250ms}, {@code 2s}, {@code 5m}, {@code 1h}, or an ISO-8601 duration such as {@code
   * PT2S}.
   */
  static Duration duration(String text, String flag) {
    String t = text.strip().toLowerCase(Locale.ROOT);
    try {
      if (t.startsWith("pt")) {
        return Duration.parse(text.strip());
      }
      if (t.endsWith("ms")) {
        return Duration.ofMillis(Long.parseLong(t.substring(0, t.length() - 2)));
      }
      long n = Long.parseLong(t.substring(0, t.length() - 1));
      return switch (t.charAt(t.length() - 1)) {
        case 's' -> Duration.ofSeconds(n);
        case 'm' -> Duration.ofMinutes(n);
        case 'h' -> Duration.ofHours(n);
        default -> throw new NumberFormatException();
      };
    } catch (RuntimeException e) {
      throw new UsageException(
          flag + ": '" + text + "' is not a duration (expected e.g. 500ms, 2s, 1m, 1h)");
    }
  }

  /**
   * Flags in the order given; each consumed flag is checked off, and {@link #done()} rejects
   * leftovers.
   */
  static final class Flags {
    record Flag(String name, String value) {}

    private final List<Flag> flags = new ArrayList<>();
    private final List<Flag> used = new ArrayList<>();

    /**
     * Flags given without a value: an error once asked for, or an unknown flag if never asked for.
     */
    private final List<String> valueless = new ArrayList<>();

    /**
     * Reads {@code --flag value} and {@code --flag=value}; a flag not in {@code known} is named as
     * unknown here, before any check of the flags that are known.
     */
    Flags(List<String> args, Set<String> known) {
      for (int i = 0; i < args.size(); i++) {
        String a = args.get(i);
        if (!a.startsWith("--")) {
          throw new UsageException("unexpected argument '" + a + "'");
        }
        int eq = a.indexOf('=');
        String inline = eq < 0 ? null : a.substring(eq + 1);
        if (eq >= 0) {
          a = a.substring(0, eq);
        }
        if (!known.contains(a)) {
          throw new UsageException("unknown flag " + a);
        }
        if (SWITCHES.contains(a)) {
          if (inline != null) {
            throw new UsageException(a + " takes no value (got '" + inline + "')");
          }
          flags.add(new Flag(a, "true"));
        } else if (inline != null) {
          if (inline.isEmpty()) {
            valueless.add(a);
          } else {
            flags.add(new Flag(a, inline));
          }
        } else if (i + 1 < args.size() && !args.get(i + 1).startsWith("--")) {
          flags.add(new Flag(a, args.get(++i)));
        } else {
          valueless.add(a);
        }
      }
    }

    String required(String name) {
      String v = optional(name);
      if (v == null) {
        throw new UsageException("missing " + name);
      }
      return v;
    }

    @Nullable String optional(String name) {
      List<String> all = all(name);
      if (all.size() > 1) {
        throw new UsageException(name + " given " + all.size() + " times (expected: once)");
      }
      return all.isEmpty() ? null : all.get(0);
    }

    String optionalOr(String name, String fallback) {
      String v = optional(name);
      return v == null ? fallback : v;
    }

    boolean flag(String name) {
      return optional(name) != null;
    }

    List<String> all(String name) {
      if (valueless.contains(name)) {
        throw new UsageException(name + ": missing value");
      }
      List<String> values = new ArrayList<>();
      for (Flag f : flags) {
        if (f.name().equals(name)) {
          values.add(f.value());
          used.add(f);
        }
      }
      return values;
    }

    List<Flag> inOrder(String... names) {
      for (String name : names) {
        if (valueless.contains(name)) {
          throw new UsageException(name + ": missing value");
        }
      }
      List<Flag> out = new ArrayList<>();
      for (Flag f : flags) {
        if (List.of(names).contains(f.name())) {
          out.add(f);
          used.add(f);
        }
      }
      return out;
    }

    void done() {
      if (!valueless.isEmpty()) { // a known flag without its value failed when it was asked for
        throw new UsageException("unknown flag " + valueless.get(0));
      }
      for (Flag f : flags) {
        if (!used.contains(f)) {
          throw new UsageException("unknown flag " + f.name());
        }
      }
    }
  }
}
