package dev.meshlet.l4;

import dev.meshlet.core.Schedule;
import dev.meshlet.core.internal.JournalWriter;
import dev.meshlet.core.internal.Mix;
import java.time.Duration;
import java.time.Instant;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.locks.ReentrantLock;
import org.jspecify.annotations.Nullable;

/**
 * The toxics installed on a {@link TcpProxy}, changed at runtime while traffic flows.
 *
 * <pre>{@code
 * proxy.toxics().add("slow-db", Toxic.latency(Duration.ofMillis(100)).downstream());
 * // ... exercise the client ...
 * proxy.toxics().remove("slow-db");
 * }</pre>
 *
 * <p>A toxic added here applies to new connections and to the connections open now (each draws its
 * toxicity once, when the toxic is added); removing it stops its effect on every connection at the
 * next chunk of data. Each draw depends only on the seed, the toxic's name and the connection's
 * ordinal among those the toxic has seen: open connections are visited oldest first, then new ones
 * in accept order, so the same seed and the same connections give the same faults. As in Toxiproxy,
 * removing a {@link Toxic.Timeout timeout} closes the connections it applied to, since their byte
 * streams may have lost data.
 */
public final class Toxics {
  private static final Installed[] NONE = new Installed[0];

  /** The live connections (or tunnels), which the toxics are drawn for. */
  private final SpliceRegistry connections;

  private final long seed;
  private final JournalWriter<TcpEvent> journal;
  private final ReentrantLock lock = new ReentrantLock();

  /** The toxics the proxy was built with, which {@link #reset()} installs again. */
  private final Map<String, Toxic> initial;

  private volatile Installed[] installed = NONE;

  Toxics(
      SpliceRegistry connections,
      long seed,
      JournalWriter<TcpEvent> journal,
      Map<String, Toxic> initial) {
    this.connections = connections;
    this.seed = seed;
    this.journal = journal;
    this.initial = new LinkedHashMap<>(initial);
    initial.forEach(this::add);
  }

  /**
   * Installs {@code toxic} under {@code name}, for new connections and those open now.
   *
   * @throws IllegalArgumentException if a toxic with that name is installed already
   */
  public void add(String name, Toxic toxic) {
    Objects.requireNonNull(name, "name");
    Objects.requireNonNull(toxic, "toxic");
    lock.lock();
    try {
      Installed[] now = installed;
      for (Installed i : now) {
        if (i.name.equals(name)) {
          throw new IllegalArgumentException(
              "toxic '" + name + "' already exists: remove it first (it is " + i.toxic + ")");
        }
      }
      Installed added = new Installed(name, toxic, System.nanoTime());
      Installed[] next = Arrays.copyOf(now, now.length + 1);
      next[now.length] = added;
      installed = next;
      for (Splice c :
          connections.inAcceptOrder()) { // the ordinals follow accept order, so draws replay
        if (c.attached) {
          decide(c, added);
        }
      }
    } finally {
      lock.unlock();
    }
  }

  /** Removes the toxic named {@code name}; returns whether there was one. */
  public boolean remove(String name) {
    Objects.requireNonNull(name, "name");
    lock.lock();
    try {
      Installed[] now = installed;
      for (int k = 0; k < now.length; k++) {
        if (now[k].name.equals(name)) {
          Installed gone = now[k];
          Installed[] next = new Installed[now.length - 1];
          System.arraycopy(now, 0, next, 0, k);
          System.arraycopy(now, k + 1, next, k, now.length - k - 1);
          installed = next;
          for (Splice c : connections.inAcceptOrder()) {
            removeFrom(c, gone);
          }
          return true;
        }
      }
      return false;
    } finally {
      lock.unlock();
    }
  }

  /** Removes every toxic. */
  public void clear() {
    for (Installed i : installed) {
      remove(i.name);
    }
  }

  /**
   * Puts back the toxics the proxy was built with ({@link TcpProxyBuilder#toxic(String, Toxic)}):
   * removes every toxic, then installs those again, their schedules counting and their draws
   * starting over as when the proxy started. The JUnit extension calls it between tests. As for
   * {@link #add(String, Toxic)}, connections still open are candidates too: for a {@code firstN}
   * schedule to count only what comes next, let earlier connections close first ({@link
   * TcpProxy#awaitIdle}).
   */
  public void reset() {
    clear();
    initial.forEach(this::add);
  }

  /** The toxic installed under {@code name}, or null. */
  public @Nullable Toxic get(String name) {
    for (Installed i : installed) {
      if (i.name.equals(name)) {
        return i.toxic;
      }
    }
    return null;
  }

  /** The installed toxics by name, in the order they were added (a copy). */
  public Map<String, Toxic> list() {
    Map<String, Toxic> out = new LinkedHashMap<>();
    for (Installed i : installed) {
      out.put(i.name, i.toxic);
    }
    return out;
  }

  /** The seed of the random source toxicity, jitter and slice sizes draw from. */
  public long seed() {
    return seed;
  }

  @Override
  public String toString() {
    return "Toxics" + list().keySet() + " seed=" + seedString(seed);
  }

  static String seedString(long seed) {
    return "0x" + Long.toHexString(seed) + "L";
  }

  // --- the proxy's side ---

  /**
   * Draws the installed toxics for a new connection; called on the acceptor thread, in accept
   * order.
   */
  void attach(Splice c) {
    lock.lock();
    try {
      c.attached = true;
      for (Installed i : installed) {
        decide(c, i);
      }
    } finally {
      lock.unlock();
    }
  }

  /** The connection ended: its toxics' timers stop. */
  void detach(Splice c) {
    c.direction(Toxic.Direction.UPSTREAM).cancelTimers();
    c.direction(Toxic.Direction.DOWNSTREAM).cancelTimers();
  }

  private void removeFrom(Splice c, Installed gone) {
    ActiveToxic removed = c.direction(gone.toxic.direction()).remove(gone);
    if (removed != null) {
      removed.cancelTimer();
      if (removed.toxic
          instanceof Toxic.Timeout) { // as Toxiproxy: what it applied to may have lost data
        c.end(
            Cause.TOXIC,
            "toxic " + gone.name + ": removed after dropping " + removed.dropped + " bytes",
            false);
      }
    }
  }

  /** Draws whether {@code i} applies to connection {@code c}; under the lock. */
  private void decide(Splice c, Installed i) {
    long ordinal = ++i.candidates;
    Toxic t = i.toxic;
    Duration since = Duration.ofNanos(System.nanoTime() - i.installedNanos);
    long draw = Mix.mix(seed, i.name.hashCode(), ordinal);
    // A window toxic is a time, not a set of connections: it applies to every connection open
    // during
    // the window (accepted before it ends), and acts on their data only while the window lasts.
    boolean admitted =
        t.schedule() instanceof Schedule.Window w
            ? since.compareTo(w.until()) < 0
            : t.schedule().admits(ordinal, since);
    if (!admitted || !(Mix.unit(draw) < t.toxicity())) {
      return;
    }
    ActiveToxic a = new ActiveToxic(i, Mix.mix(draw, 0x5DEECE66DL, ordinal));
    journal.record(new TcpEvent.ToxicApplied(c.id, i.name, t, Instant.now()));
    connections.counters().toxicsApplied.increment();
    c.direction(t.direction()).add(a);
    if (t instanceof Toxic.Timeout x
        && !x.timeout().isZero()) { // counted from when the toxic starts acting
      a.startTimer(
          connections.executor(),
          x.timeout().plus(a.untilEffect()),
          () -> {
            // a window may have ended meanwhile: a connection it dropped nothing of is left healthy
            if (a.inEffect(System.nanoTime()) || a.dropped > 0) {
              c.end(Cause.TOXIC, "toxic " + i.name + ": timed out", false);
            }
          });
    }
  }

  /** A toxic as installed: its name, value, and the count of connections it was drawn for. */
  static final class Installed {
    final String name;
    final Toxic toxic;
    final long installedNanos;
    long candidates; // guarded by the Toxics lock

    Installed(String name, Toxic toxic, long installedNanos) {
      this.name = name;
      this.toxic = toxic;
      this.installedNanos = installedNanos;
    }
  }
}
