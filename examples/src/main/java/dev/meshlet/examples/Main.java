package dev.meshlet.examples;

import java.io.PrintStream;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import sun.misc.Signal;

/**
 * {@code java -jar meshlet.jar [demo|sidecars|l4|l7] …}: the demo with no arguments, otherwise the
 * command line. Exit codes: 0 after a clean stop (SIGTERM or Ctrl-C drain first), 1 when the proxy
 * cannot start (e.g. the port is in use), 2 for a bad flag or value (a backend name that does not
 * resolve, unless {@code --defer-resolution} is given).
 */
public final class Main {
  private Main() {}

  /** Entry point of the runnable jar. */
  public static void main(String[] args) {
    CountDownLatch stop = new CountDownLatch(1);
    // Handle TERM and INT ourselves so the process drains and exits 0 instead of 143/130.
    for (String sig : List.of("TERM", "INT")) {
      try {
        Signal.handle(new Signal(sig), s -> stop.countDown());
      } catch (IllegalArgumentException unsupported) {
        // not on this platform: the JVM's default handling applies
      }
    }
    System.exit(run(Arrays.asList(args), System.out, System.err, stop));
  }

  /** The version from the jar's manifest, or {@code "(development build)"} outside the jar. */
  static String version() {
    String v = Main.class.getPackage().getImplementationVersion();
    return v == null ? "(development build)" : v;
  }

  static int run(List<String> args, PrintStream out, PrintStream err, CountDownLatch stop) {
    if (args.isEmpty()) {
      return Demo.run(args, out, err, stop);
    }
    String mode = args.get(0);
    List<String> rest = args.subList(1, args.size());
    if (mode.equals("--help") || mode.equals("-h") || mode.equals("help")) {
      out.print(Cli.USAGE);
      return 0;
    }
    if (mode.equals("--version") || mode.equals("-V") || mode.equals("version")) {
      out.println("meshlet " + version());
      return 0;
    }
    if (mode.startsWith("-") && !Demo.DEMO_FLAGS.contains(mode.split("=", 2)[0])) {
      // A flag where the mode belongs: l4 and l7 flags given without their mode are the usual case.
      err.println(
          "meshlet: '"
              + mode
              + "' needs a mode first (expected: l4, l7, toxiproxy, demo or sidecars, e.g. meshlet l7 --listen :8080"
              + " --default HOST:PORT)");
      err.print(Cli.USAGE);
      return 2;
    }
    if (rest.contains("--help") || rest.contains("-h")) {
      out.print(
          switch (mode) {
            case "demo" -> Demo.USAGE;
            case "sidecars" -> Sidecars.USAGE;
            default -> Cli.USAGE;
          });
      return 0;
    }
    if (mode.equals("sidecars")) {
      return Sidecars.run(rest, out, err, stop);
    }
    if (mode.equals("demo") || mode.startsWith("-")) {
      return Demo.run(mode.equals("demo") ? rest : args, out, err, stop);
    }
    return Cli.run(mode, rest, out, err, stop);
  }
}
