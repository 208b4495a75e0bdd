package dev.meshlet.bench;

import static dev.meshlet.bench.Facts.fmt0;
import static dev.meshlet.bench.Facts.loadavg;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.function.Consumer;

/**
 * The memory phase: idle connections held through each target, its heap, RSS and threads read
 * before and after, reported per connection.
 */
final class MemoryPhase {
  /** Runs wrk against a target for {@code seconds}; the requests per second. */
  interface Load {
    double run(Targets.Target t, double seconds, boolean close);
  }

  private final Options o;
  private final Targets procs;
  private final Consumer<String> out;
  private final Load wrk;

  MemoryPhase(Options o, Targets procs, Consumer<String> out, Load wrk) {
    this.o = o;
    this.procs = procs;
    this.out = out;
    this.wrk = wrk;
  }

  void run() throws Exception {
    out.accept(
        "## Memory per idle connection ("
            + o.hold
            + " held, growth measured over the last "
            + Math.min(o.hold, MEASURED_BATCH)
            + "; client in another process, nginx backend)");
    out.accept("");
    out.accept(
        "| target | held | heap after GC, per conn | RSS growth, per conn | heap + RSS growth per conn | threads (OS) | target |");
    out.accept("|---|---|---|---|---|---|---|");
    List<String> layers = new ArrayList<>(List.of("l4"));
    if (o.l7 && L7Role.available()) {
      layers.add("l7");
    }
    for (String layer : layers) {
      Targets.Target t = procs.meshlet(layer, procs.nginxPort(), o.cpu);
      try {
        memoryOf(t, layer.equals("l4") ? "≤ 4 KiB" : "≤ 2 KiB");
      } finally {
        t.stop();
      }
    }
    for (Options.Peer p : o.peers) {
      Targets.Target t = procs.peer(p, procs.nginxPort(), o.cpu);
      try {
        memoryOf(t, "");
      } finally {
        t.stop();
      }
    }
    out.accept("");
    out.accept(
        "heap is measured inside the proxy's JVM after System.gc(); with -Xms = -Xmx and AlwaysPreTouch the heap is");
    out.accept(
        "resident from the start, so RSS growth is native memory only (thread stacks, NIO, malloc). JVMs' RSS is read");
    out.accept(
        "after `System.trim_native_heap` (glibc otherwise keeps memory the JIT freed, which showed as growth). Each");
    out.accept(
        "target first serves "
            + fmt0(o.memoryWarmup)
            + " s of keep-alive load (wrk), so its JIT has settled. A negative RSS");
    out.accept(
        "growth (the process gave back more than the connections took) counts as 0 in the sum. Peers: RSS only.");
    out.accept("load average: " + loadavg());
    out.accept("");
  }

  /**
   * Connections whose memory is measured in the memory test; any more of {@code --hold} are held
   * first.
   */
  private static final int MEASURED_BATCH = 5000;

  private void memoryOf(Targets.Target t, String goal) {
    Proc proc = t.proc();
    // warm up: connect and release a few hundred, so class loading and JIT are not counted per
    // connection
    Proc warm = hold(t, 500);
    warm.close();
    if (o.memoryWarmup > 0) {
      wrk.run(t, o.memoryWarmup, false);
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
      out.accept(
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

  private Proc hold(Targets.Target t, int n) {
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
  private long[] mem(Targets.Target t) {
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
}
