package dev.meshlet.l4;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.meshlet.core.Backend;
import dev.meshlet.testkit.EchoServer;
import dev.meshlet.testkit.Resources;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AutoClose;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The proxy under pressure from outside: out of file descriptors, and bursts of connects. */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class HardeningTest {
  @AutoClose private final Resources resources = new Resources();

  @Test
  void acceptorSurvivesFileDescriptorExhaustionAndServesWithinASecondOfRelief() throws Exception {
    EchoServer backend = resources.track(EchoServer.start());
    Path stderr = Files.createTempFile("meshlet-l4-fd", ".log");
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    // bash's ulimit -n lowers the hard limit too, and -XX:-MaxFDLimit keeps HotSpot from raising
    // the soft one
    Process child =
        new ProcessBuilder(
                "bash",
                "-c",
                "ulimit -n 256 && exec \"$0\" -XX:-MaxFDLimit -cp \"$1\" dev.meshlet.l4.FdLimitedProxyMain \"$2\"",
                java,
                System.getProperty("java.class.path"),
                String.valueOf(backend.port()))
            .redirectError(stderr.toFile())
            .start();
    resources.track(
        () -> {
          child.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
          Files.deleteIfExists(stderr);
        });
    BufferedReader out =
        new BufferedReader(
            new InputStreamReader(child.getInputStream(), StandardCharsets.US_ASCII));
    PrintStream in = new PrintStream(child.getOutputStream(), true, StandardCharsets.US_ASCII);
    String first = out.readLine();
    assertThat(first)
        .as("child's first line; stderr: %s", Files.readString(stderr))
        .startsWith("port ");
    InetSocketAddress proxy =
        new InetSocketAddress("127.0.0.1", Integer.parseInt(first.substring(5)));
    assertThat(echoes(proxy, Duration.ofSeconds(5))).as("served before the flood").isTrue();

    List<Socket> flood = new ArrayList<>();
    long acceptFailures;
    try {
      for (int i = 0; i < 1000; i++) {
        Socket s = new Socket();
        flood.add(s);
        s.connect(
            proxy, 5000); // the handshake completes in the backlog whether or not the proxy accepts
      }
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
      long[] stats;
      do { // the proxy has hit the limit: accept() or the backend socket failed for want of a
        // descriptor
        stats = stats(in, out, stderr);
      } while (stats[2] + stats[3] == 0 && System.nanoTime() - deadline < 0);
      assertThat(stats[2] + stats[3]).as("acceptFailures + noSocket while flooded").isPositive();
      acceptFailures = stats[2];
      // a connection that got no backend socket was closed at once, not left hanging: its client
      // reads EOF
      long noSocket = stats[3];
      long closed = 0;
      while (closed < noSocket && System.nanoTime() - deadline < 0) {
        closed = 0;
        for (Socket s : flood) {
          closed += endOfStream(s) ? 1 : 0;
        }
      }
      assertThat(closed)
          .as("flood clients closed by the proxy (noSocket: %d)", noSocket)
          .isGreaterThanOrEqualTo(noSocket);
    } finally {
      for (Socket s : flood) {
        s.close();
      }
    }
    long relieved = System.nanoTime();
    boolean served = false;
    while (!served && System.nanoTime() - relieved < TimeUnit.SECONDS.toNanos(10)) {
      served = echoes(proxy, Duration.ofMillis(200));
    }
    Duration recovery = Duration.ofNanos(System.nanoTime() - relieved);
    String log = Files.readString(stderr);
    assertThat(served).as("served again after the flood; child stderr: %s", log).isTrue();
    assertThat(recovery)
        .as("time from the flood's close to the first echo")
        .isLessThan(Duration.ofSeconds(1));
    assertThat(log).doesNotContain("Exception in thread");
    acceptFailures =
        stats(in, out, stderr)[2]; // an accept may have failed after the flood's count was read
    long logged = log.lines().filter(l -> l.contains("accept failed")).count();
    assertThat(logged)
        .as("episodes logged; child stderr: %s", log)
        .isEqualTo(acceptFailures > 0 ? 1 : 0);
    assertThat(child.isAlive()).isTrue();
  }

  @Test
  void burstOfTwoThousandConnectsIsAnsweredWithoutADroppedSyn() throws Exception {
    long limit = openFilesLimit();
    // each proxied connection costs four descriptors in this JVM: client, the proxy's two, backend
    assumeTrue(
        limit >= 9000,
        "the open files limit is " + limit + ": the burst needs about 9000 (ulimit -n)");
    EchoServer backend = resources.track(EchoServer.start());
    TcpProxy proxy =
        resources.track(
            TcpProxy.builder()
                .listen("127.0.0.1", 0)
                .backends(Backend.of("127.0.0.1", backend.port()))
                .start());
    InetSocketAddress target = new InetSocketAddress("127.0.0.1", proxy.port());
    burst(target, 200); // compiles the paths a burst takes, as a proxy that has served before has
    proxy.awaitIdle(Duration.ofSeconds(10));
    long overflowsBefore = listenOverflows();
    Burst b = burst(target, 2000);
    long overflows = listenOverflows() - overflowsBefore;
    System.out.println(
        "burst of 2000: "
            + b.took().toMillis()
            + " ms, connects over 900 ms: "
            + b.slowConnects()
            + ", listen queue overflows: "
            + overflows);
    assertThat(b.answered())
        .as("clients that got their echo; proxy stats: %s", proxy.stats())
        .isEqualTo(2000);
    // a full accept queue drops SYNs, which clients retry after 1 s: none may be dropped. The wall
    // time depends on the machine's load, so it is bounded loosely here and measured in bench/.
    assertThat(overflows).as("SYNs the kernel dropped on a full accept queue").isZero();
    assertThat(b.took())
        .as("time for the whole burst (connects over 900 ms: %d)", b.slowConnects())
        .isLessThan(Duration.ofSeconds(10));
    assertThat(proxy.stats().rejected()).isZero();
  }

  private record Burst(int answered, int slowConnects, Duration took) {}

  /** {@code n} clients connect at once, each sends a byte and reads its echo; then all close. */
  private static Burst burst(InetSocketAddress target, int n) throws Exception {
    List<Socket> clients = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      clients.add(new Socket());
    }
    AtomicInteger answered = new AtomicInteger();
    AtomicInteger slowConnects =
        new AtomicInteger(); // a SYN retried after a full backlog takes 1 s
    CountDownLatch go = new CountDownLatch(1);
    long start;
    try (ExecutorService threads = Executors.newVirtualThreadPerTaskExecutor()) {
      for (Socket s : clients) {
        threads.execute(
            () -> {
              try {
                go.await();
                long t0 = System.nanoTime();
                s.connect(target, 10_000);
                if (System.nanoTime() - t0 > TimeUnit.MILLISECONDS.toNanos(900)) {
                  slowConnects.incrementAndGet();
                }
                s.setSoTimeout(10_000);
                s.getOutputStream().write('x');
                if (s.getInputStream().read() == 'x') {
                  answered.incrementAndGet();
                }
              } catch (IOException | InterruptedException e) {
                // not answered: counted by its absence
              }
            });
      }
      start = System.nanoTime();
      go.countDown();
    } finally { // the executor's close waited for every client
      for (Socket s : clients) {
        s.close();
      }
    }
    return new Burst(
        answered.get(), slowConnects.get(), Duration.ofNanos(System.nanoTime() - start));
  }

  /** Connects, sends a byte and reads its echo, within {@code timeout}. */
  private static boolean echoes(InetSocketAddress proxy, Duration timeout) {
    try (Socket s = new Socket()) {
      s.connect(proxy, (int) timeout.toMillis());
      s.setSoTimeout((int) timeout.toMillis());
      OutputStream out = s.getOutputStream();
      out.write('x');
      return s.getInputStream().read() == 'x';
    } catch (IOException e) {
      return false;
    }
  }

  /** Whether the peer has closed {@code s}: a read returns end of stream at once (1 ms to tell). */
  private static boolean endOfStream(Socket s) {
    try {
      s.setSoTimeout(1);
      return s.getInputStream().read() == -1;
    } catch (IOException e) { // timed out: open; or reset
      return false;
    }
  }

  /** The child's accepted, active, acceptFailures and noSocket counts. */
  private static long[] stats(PrintStream in, BufferedReader out, Path stderr) throws IOException {
    in.println("stats");
    String line = out.readLine();
    assertThat(line)
        .as("the child's answer; its stderr: %s", Files.readString(stderr))
        .startsWith("stats ");
    String[] f = line.substring(6).split(" ");
    long[] v = new long[f.length];
    for (int i = 0; i < f.length; i++) {
      v[i] = Long.parseLong(f[i]);
    }
    return v;
  }

  /**
   * The kernel's count of connections dropped because a listener's accept queue was full ({@code
   * TcpExt ListenOverflows} in {@code /proc/net/netstat}; this network namespace, all listeners).
   */
  private static long listenOverflows() throws IOException {
    List<String> lines = Files.readAllLines(Path.of("/proc/net/netstat"));
    for (int i = 0; i + 1 < lines.size(); i++) {
      if (lines.get(i).startsWith("TcpExt:") && lines.get(i + 1).startsWith("TcpExt:")) {
        String[] names = lines.get(i).split("\\s+");
        String[] values = lines.get(i + 1).split("\\s+");
        for (int k = 0; k < names.length; k++) {
          if (names[k].equals("ListenOverflows")) {
            return Long.parseLong(values[k]);
          }
        }
      }
    }
    throw new IllegalStateException("no TcpExt ListenOverflows in /proc/net/netstat");
  }

  /** This process's soft limit of open files (HotSpot raises it to the hard limit at start). */
  private static long openFilesLimit() throws IOException {
    for (String line : Files.readAllLines(Path.of("/proc/self/limits"))) {
      if (line.startsWith("Max open files")) {
        String soft = line.substring("Max open files".length()).trim().split("\\s+")[0];
        return soft.equals("unlimited") ? Long.MAX_VALUE : Long.parseLong(soft);
      }
    }
    return 0;
  }
}
