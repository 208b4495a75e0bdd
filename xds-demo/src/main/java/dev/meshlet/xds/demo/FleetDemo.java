package dev.meshlet.xds.demo;

import dev.meshlet.l7.HttpProxy;
import dev.meshlet.xds.XdsClient;
import dev.meshlet.xds.XdsStatus;
import java.io.IOException;
import java.io.PrintStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.function.BooleanSupplier;

/**
 * One control plane, three meshlet proxies, a route change rolled out to all: {@code java -jar
 * xds-demo/target/meshlet-xds-demo.jar [--hold]}.
 *
 * <p>It starts an in-process java-control-plane, backends v1 and v2, and three {@link XdsClient}s
 * (nodes proxy-1..3, each with an admin endpoint); pushes snapshot 1 (every path to v1) and shows
 * each proxy answered by v1; pushes snapshot 2 (every path to v2), waits until every proxy has RDS
 * version 2 (at most 20 s), and shows each proxy answered by v2. It exits 0 when both checks held,
 * 1 otherwise; {@code --hold} keeps everything running until Ctrl-C and prints curl commands.
 */
public final class FleetDemo {
  private static final Duration DEADLINE = Duration.ofSeconds(20);
  private static final int PROXIES = 3;
  private static final int REQUESTS = 3;

  private FleetDemo() {}

  /**
   * Runs the demo; {@code --hold} keeps it running after the rollout.
   *
   * @param args {@code --hold} or nothing
   */
  public static void main(String[] args) throws Exception {
    boolean hold = args.length == 1 && args[0].equals("--hold");
    if (args.length > 1 || (args.length == 1 && !hold)) {
      System.err.println("usage: java -jar meshlet-xds-demo.jar [--hold]");
      System.exit(2);
    }
    try (Fleet fleet = new Fleet(PROXIES)) {
      boolean ok = rollout(fleet, System.out);
      if (ok && hold) {
        holdUntilInterrupted(fleet, System.out);
      }
      System.out.println(ok ? "rollout reached all " + PROXIES + " proxies" : "rollout FAILED");
      if (!ok) {
        System.exit(1);
      }
    }
  }

  /**
   * Pushes version 1 (to v1), checks every proxy answers from v1, pushes version 2 (to v2), waits
   * for RDS 2 on every proxy and checks every proxy answers from v2. Prints as it goes.
   *
   * @return whether every proxy served v1, then v2
   */
  static boolean rollout(Fleet fleet, PrintStream out) throws IOException, InterruptedException {
    out.println("control plane: grpc 127.0.0.1:" + fleet.controlPlane.getPort());
    out.println(
        "backends: v1 127.0.0.1:"
            + fleet.v1.getAddress().getPort()
            + ", v2 127.0.0.1:"
            + fleet.v2.getAddress().getPort());
    fleet.push("1", "v1");
    for (XdsClient x : fleet.proxies) {
      x.start();
    }
    try (HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build()) {
      if (!awaitRds(fleet, "1", out)) {
        return false;
      }
      for (int i = 0; i < PROXIES; i++) {
        HttpProxy p = proxy(fleet, i);
        out.println(
            "proxy-"
                + (i + 1)
                + ": http 127.0.0.1:"
                + p.port()
                + ", admin "
                + fleet.admins.get(i).uri());
      }
      boolean v1 = traffic(fleet, http, "v1", out);

      long pushed = System.nanoTime();
      fleet.push("2", "v2");
      out.println("pushed version 2: every path to v2");
      if (!awaitRds(fleet, "2", out)) {
        return false;
      }
      out.println(
          "RDS version 2 on all proxies after "
              + TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - pushed)
              + " ms");
      boolean v2 = traffic(fleet, http, "v2", out);
      for (int i = 0; i < PROXIES; i++) {
        XdsStatus s = fleet.proxies.get(i).status();
        out.println(
            "proxy-"
                + (i + 1)
                + ": LDS "
                + s.version(XdsStatus.LISTENER)
                + " RDS "
                + s.version(XdsStatus.ROUTE)
                + " CDS "
                + s.version(XdsStatus.CLUSTER)
                + " EDS "
                + s.version(XdsStatus.ENDPOINT)
                + ", acks "
                + s.acks()
                + ", nacks "
                + s.nacks());
      }
      return v1 && v2;
    }
  }

  private static HttpProxy proxy(Fleet fleet, int i) {
    HttpProxy p = fleet.proxies.get(i).httpProxy(Resources.LISTENER);
    if (p == null) {
      throw new IllegalStateException(
          "proxy-" + (i + 1) + ": listener " + Resources.LISTENER + " gone");
    }
    return p;
  }

  /** Waits until every proxy has RDS {@code version} and its listener running, or the deadline. */
  private static boolean awaitRds(Fleet fleet, String version, PrintStream out) {
    boolean ok =
        poll(
            () -> {
              for (XdsClient x : fleet.proxies) {
                if (!version.equals(x.status().version(XdsStatus.ROUTE))
                    || x.httpProxy(Resources.LISTENER) == null) {
                  return false;
                }
              }
              return true;
            });
    if (!ok) {
      List<String> versions = new ArrayList<>();
      for (XdsClient x : fleet.proxies) {
        versions.add(String.valueOf(x.status().version(XdsStatus.ROUTE)));
      }
      out.println(
          "RDS version " + version + " not on all proxies within " + DEADLINE + ": " + versions);
    }
    return ok;
  }

  private static boolean poll(BooleanSupplier done) {
    long end = System.nanoTime() + DEADLINE.toNanos();
    while (!done.getAsBoolean()) {
      if (System.nanoTime() - end > 0) {
        return false;
      }
      LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(10));
    }
    return true;
  }

  /** Sends a few requests through each proxy; true if all came back from {@code expected}. */
  private static boolean traffic(Fleet fleet, HttpClient http, String expected, PrintStream out)
      throws IOException, InterruptedException {
    boolean ok = true;
    for (int i = 0; i < PROXIES; i++) {
      int port = proxy(fleet, i).port();
      List<String> answers = new ArrayList<>();
      for (int r = 0; r < REQUESTS; r++) {
        HttpResponse<String> res =
            http.send(
                HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/hello")).build(),
                HttpResponse.BodyHandlers.ofString());
        answers.add(res.statusCode() + " " + res.body());
        ok &= res.statusCode() == 200 && res.body().startsWith(expected + " ");
      }
      out.println(
          "  GET http://127.0.0.1:" + port + "/hello (proxy-" + (i + 1) + ") -> " + answers);
    }
    return ok;
  }

  private static void holdUntilInterrupted(Fleet fleet, PrintStream out)
      throws InterruptedException {
    out.println("holding; try:");
    for (int i = 0; i < PROXIES; i++) {
      out.println("  curl http://127.0.0.1:" + proxy(fleet, i).port() + "/hello");
      out.println("  curl " + fleet.admins.get(i).uri() + "config");
      out.println("  curl " + fleet.admins.get(i).uri() + "stats/prometheus");
    }
    out.println("Ctrl-C to stop");
    CountDownLatch stop = new CountDownLatch(1);
    Runtime.getRuntime().addShutdownHook(new Thread(stop::countDown, "meshlet-xds-demo-stop"));
    stop.await();
  }
}
