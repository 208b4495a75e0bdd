package dev.meshlet.examples;

import java.io.PrintStream;
import java.net.BindException;
import java.util.List;
import java.util.concurrent.CountDownLatch;

/**
 * The command line: {@code meshlet l4 …}, {@code meshlet l7 …} and {@code meshlet toxiproxy …}, a
 * thin layer that parses flags and calls the public builders, nothing more. Each mode owns its
 * flags and its usage lines.
 */
final class Cli {

  static final String USAGE =
      """
      usage:
        java -jar meshlet.jar                      run the demo (see: java -jar meshlet.jar demo --help)
        java -jar meshlet.jar sidecars             two workloads' sidecars over mutual TLS (--help)
      """
          + L4Mode.USAGE
          + L7Mode.USAGE
          + ToxiproxyMode.USAGE
          + """
      The values shown are the defaults.
        --connect-timeout    one attempt to connect to a backend (l4 makes up to 3)
        --drain-timeout      how long SIGTERM or Ctrl-C waits for in-flight work
        --defer-resolution   start even if a backend name does not resolve now (without it: exit 2)
      """
          + L4Mode.HELP
          + L7Mode.HELP
          + AdminFlags.HELP
          + ToxiproxyMode.HELP
          + """
      balancers: round-robin, random, weighted-round-robin, least-connections, consistent-hash
      durations: 500ms, 2s, 1m, 1h or ISO-8601 (PT2S). Routes are tried in order; the first match wins.
      --listen 127.0.0.1:0 picks a free port; the real one is printed as "listening on HOST:PORT".
      SIGTERM or Ctrl-C stops accepting, lets in-flight work finish (up to --drain-timeout), exits 0.
      """;

  private Cli() {}

  /** Runs {@code meshlet l4|l7 …}; returns the process exit code. */
  static int run(
      String mode, List<String> args, PrintStream out, PrintStream err, CountDownLatch stop) {
    try {
      return switch (mode) {
        case "l4" -> L4Mode.run(args, out, stop);
        case "l7" -> L7Mode.run(args, out, stop);
        case "toxiproxy" -> ToxiproxyMode.run(args, out, stop);
        default ->
            throw new UsageException(
                "unknown mode '" + mode + "' (expected: l4, l7, toxiproxy, demo or sidecars)");
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
}
