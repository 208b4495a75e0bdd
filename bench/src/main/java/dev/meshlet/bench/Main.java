package dev.meshlet.bench;

import java.util.Arrays;

/**
 * The jar's entry point: {@code load} runs the load harness, {@code jmh} the microbenchmarks; the
 * other commands are the roles the harness starts as child processes.
 */
public final class Main {
  private Main() {}

  /** Dispatches on the first argument; see {@code bench/README.md}. */
  public static void main(String[] args) throws Exception {
    if (args.length == 0) {
      System.err.println(
          """
          usage: java -jar meshlet-bench.jar load [options]   load harness (see bench/README.md)
                 java -jar meshlet-bench.jar jmh [jmh options] microbenchmarks, e.g. jmh -prof gc
                 java -jar meshlet-bench.jar tunnel [connections] [seconds] [rounds] [bytes]
                                                       echo round trips/s, L7 tunnel vs L4
          roles started by the harness: proxy, bulk-server, bulk-client, http-bulk-server,
                 http-bulk-client, latency, hold, grpc-server, grpc-client""");
      System.exit(2);
    }
    String[] rest = Arrays.copyOfRange(args, 1, args.length);
    switch (args[0]) {
      case "load" -> Harness.main(rest);
      case "jmh" -> org.openjdk.jmh.Main.main(rest);
      case "proxy" -> ProxyRole.main(rest);
      case "jetty-proxy" -> JettyProxyRole.main(rest);
      case "bulk-server" -> Bulk.server(rest);
      case "bulk-client" -> Bulk.client(rest);
      case "http-bulk-server" -> HttpBulk.server(rest);
      case "http-bulk-client" -> HttpBulk.client(rest);
      case "latency" -> LatencyClient.main(rest);
      case "hold" -> HoldClient.main(rest);
      case "tunnel" -> TunnelBench.main(rest);
      case "grpc-server" -> GrpcRoles.server(rest);
      case "grpc-client" -> GrpcRoles.client(rest);
      default -> {
        System.err.println(
            "unknown command: "
                + args[0]
                + " (expected: load, jmh, proxy, bulk-server, "
                + "bulk-client, http-bulk-server, http-bulk-client, latency, hold, tunnel,"
                + " grpc-server, grpc-client)");
        System.exit(2);
      }
    }
  }
}
