package dev.meshlet.bench;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.jspecify.annotations.Nullable;

/**
 * A child process of the harness, pinned to CPUs with {@code taskset}: its stdout is read line by
 * line (the roles' protocol), its stdin is a control channel, and closing it ends the process.
 */
final class Proc implements AutoCloseable {
  private static final String EOF = "\u0000eof";
  final String name;
  final Process process;
  private final PrintWriter in;
  private final LinkedBlockingQueue<String> lines = new LinkedBlockingQueue<>();

  /**
   * Every child process started and not yet ended, so that an interrupted harness can stop them
   * all.
   */
  private static final java.util.Set<Process> LIVE =
      java.util.concurrent.ConcurrentHashMap.newKeySet();

  private Proc(String name, Process process, boolean pipeStdout) {
    this.name = name;
    this.process = process;
    LIVE.add(process);
    process.onExit().thenRun(() -> LIVE.remove(process));
    this.in = new PrintWriter(process.getOutputStream(), true, StandardCharsets.UTF_8);
    if (pipeStdout) {
      Thread.ofPlatform()
          .daemon()
          .name("bench-read-" + name)
          .start(
              () -> {
                try (BufferedReader r =
                    new BufferedReader(
                        new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8))) {
                  for (String line; (line = r.readLine()) != null; ) {
                    lines.add(line);
                  }
                } catch (IOException ignored) {
                  // the process ended
                } finally {
                  lines.add(EOF);
                }
              });
    }
  }

  /** A niceness for every pinned process (e.g. -10, as root), or 0 to leave it alone. */
  static volatile int nice;

  /**
   * The command prefix that pins a process to {@code cpus} (e.g. "0" or "0,1"), with {@link #nice}
   * if set, so that other work on a shared machine disturbs the measured processes less.
   */
  static List<String> pinned(String cpus, List<String> command) {
    List<String> c = new ArrayList<>();
    if (nice != 0) {
      c.addAll(List.of("nice", "-n", String.valueOf(nice)));
    }
    c.addAll(List.of("taskset", "-c", cpus));
    c.addAll(command);
    return c;
  }

  /** The command that runs a role of this jar in a new JVM. */
  static List<String> javaRole(List<String> jvmArgs, String role, String... args) {
    String java = ProcessHandle.current().info().command().orElse("java");
    List<String> c = new ArrayList<>();
    c.add(java);
    c.addAll(jvmArgs);
    c.add("-cp");
    c.add(System.getProperty("java.class.path"));
    c.add(Main.class.getName());
    c.add(role);
    c.addAll(List.of(args));
    return c;
  }

  /** Starts a role whose stdout the harness reads; stderr goes to the harness's stderr. */
  static Proc role(String name, List<String> command) {
    try {
      Process p =
          new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.INHERIT).start();
      return new Proc(name, p, true);
    } catch (IOException e) {
      throw new UncheckedIOException("start " + name + ": " + command, e);
    }
  }

  /** Starts an external program (nginx, HAProxy, wrk) with its output in {@code log}. */
  static Proc external(
      String name, List<String> command, Map<String, String> env, @Nullable Path log) {
    try {
      ProcessBuilder pb = new ProcessBuilder(command);
      pb.environment().putAll(env);
      if (log != null) {
        pb.redirectErrorStream(true).redirectOutput(log.toFile());
      }
      return new Proc(name, pb.start(), log == null);
    } catch (IOException e) {
      throw new UncheckedIOException("start " + name + ": " + command, e);
    }
  }

  /** Runs a command to its end (bounded by {@code timeout}) and returns its stdout and stderr. */
  static String run(List<String> command, Duration timeout) {
    try {
      Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
      LIVE.add(p);
      p.onExit().thenRun(() -> LIVE.remove(p));
      byte[][] out = new byte[1][];
      Thread reader =
          Thread.ofPlatform()
              .daemon()
              .start(
                  () -> {
                    try {
                      out[0] = p.getInputStream().readAllBytes();
                    } catch (IOException e) {
                      out[0] = new byte[0];
                    }
                  });
      if (!p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
        p.destroyForcibly();
        throw new IllegalStateException("timed out after " + timeout + ": " + command);
      }
      reader.join(5000);
      return out[0] == null ? "" : new String(out[0], StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new UncheckedIOException(String.valueOf(command), e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted", e);
    }
  }

  /**
   * Stops every child still running, with its descendants (SIGTERM, then SIGKILL after 5 s): the
   * harness's shutdown hook, so that Ctrl-C or a kill leaves no nginx, peer or role behind.
   */
  static void stopAll() {
    for (Process p : List.copyOf(LIVE)) {
      p.descendants().forEach(ProcessHandle::destroy);
      p.destroy();
    }
    long deadline = System.nanoTime() + 5_000_000_000L;
    for (Process p : List.copyOf(LIVE)) {
      try {
        if (!p.waitFor(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS)) {
          p.descendants().forEach(ProcessHandle::destroyForcibly);
          p.destroyForcibly();
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return;
      }
      LIVE.remove(p);
    }
  }

  /** Sends one line to the process's stdin. */
  void send(String line) {
    in.println(line);
  }

  /**
   * The next stdout line starting with {@code prefix} (others are echoed to stderr), without the
   * prefix.
   */
  String expect(String prefix, Duration timeout) {
    long deadline = System.nanoTime() + timeout.toNanos();
    try {
      while (true) {
        long left = deadline - System.nanoTime();
        String line = left > 0 ? lines.poll(left, TimeUnit.NANOSECONDS) : null;
        if (line == null) {
          throw new IllegalStateException(name + ": no '" + prefix + "' line within " + timeout);
        }
        if (line.equals(EOF)) {
          lines.add(EOF);
          throw new IllegalStateException(name + ": ended before printing '" + prefix + "'");
        }
        if (line.startsWith(prefix)) {
          return line.substring(prefix.length()).strip();
        }
        System.err.println("[" + name + "] " + line);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted", e);
    }
  }

  long pid() {
    return process.pid();
  }

  /** Waits until something accepts connections on the port. */
  static void awaitPort(int port, Duration timeout) {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (true) {
      try (Socket s = new Socket()) {
        s.connect(new InetSocketAddress("127.0.0.1", port), 500);
        return;
      } catch (IOException e) {
        if (System.nanoTime() > deadline) {
          throw new IllegalStateException(
              "nothing listens on 127.0.0.1:" + port + " after " + timeout);
        }
        sleep(50);
      }
    }
  }

  static void sleep(long millis) {
    try {
      Thread.sleep(millis);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted", e);
    }
  }

  /** A free TCP port on loopback (bound and released, so a child can bind it just after). */
  static int freePort() {
    try (java.net.ServerSocket s =
        new java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
      return s.getLocalPort();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /**
   * Asks this JVM to give the memory its C heap holds free back to the OS ({@code jcmd
   * System.trim_native_heap}): glibc keeps what the JIT compilers allocated and freed, which would
   * otherwise read as RSS growth of whatever is measured next.
   */
  static void trimNativeHeap() {
    try {
      java.lang.management.ManagementFactory.getPlatformMBeanServer()
          .invoke(
              new javax.management.ObjectName("com.sun.management:type=DiagnosticCommand"),
              "systemTrimNativeHeap",
              new Object[] {null},
              new String[] {String[].class.getName()});
    } catch (javax.management.JMException e) {
      System.err.println("trim_native_heap failed: " + e);
    }
  }

  /**
   * As {@link #trimNativeHeap()}, for another process if it is a JVM (with jcmd); other processes
   * are left alone.
   */
  static void trimNativeHeap(long pid) {
    try {
      Path exe = Path.of("/proc/" + pid + "/exe").toRealPath();
      if (!exe.getFileName().toString().equals("java")) {
        return;
      }
      Path jcmd = exe.resolveSibling("jcmd");
      run(
          List.of(jcmd.toString(), String.valueOf(pid), "System.trim_native_heap"),
          Duration.ofSeconds(60));
    } catch (IOException e) {
      System.err.println("trim_native_heap of " + pid + " failed: " + e);
    }
  }

  /** Resident set size of a process in bytes, from /proc. */
  static long rss(long pid) {
    try {
      for (String line : java.nio.file.Files.readAllLines(Path.of("/proc/" + pid + "/status"))) {
        if (line.startsWith("VmRSS:")) {
          return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
        }
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    throw new IllegalStateException("no VmRSS for pid " + pid);
  }

  /**
   * CPU time a process (all its threads) has used, user plus system, in clock ticks (1/100 s), from
   * /proc.
   */
  static long cpuTicks(long pid) {
    try {
      String stat = java.nio.file.Files.readString(Path.of("/proc/" + pid + "/stat"));
      String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" "); // f[0] is field 3, "state"
      return Long.parseLong(f[11]) + Long.parseLong(f[12]); // utime, stime: fields 14 and 15
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** Threads of a process, from /proc. */
  static int threads(long pid) {
    try {
      for (String line : java.nio.file.Files.readAllLines(Path.of("/proc/" + pid + "/status"))) {
        if (line.startsWith("Threads:")) {
          return Integer.parseInt(line.replaceAll("[^0-9]", ""));
        }
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return -1;
  }

  /**
   * Closes stdin (the roles exit on EOF), then waits, then kills. Waits for the whole process tree.
   */
  @Override
  public void close() {
    in.close();
    try {
      if (!process.waitFor(5, TimeUnit.SECONDS)) {
        process.descendants().forEach(ProcessHandle::destroy);
        process.destroy();
        if (!process.waitFor(5, TimeUnit.SECONDS)) {
          process.descendants().forEach(ProcessHandle::destroyForcibly);
          process.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
        }
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  /** Stops an external server at once (SIGTERM), waiting for it to exit. */
  void terminate() {
    process.destroy();
    try {
      if (!process.waitFor(5, TimeUnit.SECONDS)) {
        process.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
