package dev.meshlet.l4;

import dev.meshlet.core.Journal;
import dev.meshlet.core.Schedule;
import java.time.Duration;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
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
 * next chunk of data. As in Toxiproxy, removing a {@link Toxic.Timeout timeout} closes the connections
 * it applied to, since their byte streams may have lost data.
 */
public final class Toxics {
  private static final Installed[] NONE = new Installed[0];

  private final TcpProxy proxy;
  private final long seed;
  private final Journal<TcpEvent> journal;
  private final ReentrantLock lock = new ReentrantLock();
  private final Set<ConnectionToxics> live = ConcurrentHashMap.newKeySet();
  /** The toxics the proxy was built with, which {@link #reset()} installs again. */
  private final Map<String, Toxic> initial;
  private volatile Installed[] installed = NONE;
  private volatile boolean enabled = true;

  Toxics(TcpProxy proxy, long seed, Journal<TcpEvent> journal, Map<String, Toxic> initial) {
    this.proxy = proxy;
    this.seed = seed;
    this.journal = journal;
    this.initial = new LinkedHashMap<>(initial);
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
          throw new IllegalArgumentException("toxic '" + name + "' already exists: remove it first (it is " + i.toxic + ")");
        }
      }
      Installed added = new Installed(name, toxic, System.nanoTime());
      Installed[] next = java.util.Arrays.copyOf(now, now.length + 1);
      next[now.length] = added;
      installed = next;
      for (ConnectionToxics c : live) {
        decide(c, added);
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
          for (ConnectionToxics c : live) {
            c.remove(gone);
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
   * Puts back the toxics the proxy was built with ({@link TcpProxy.Builder#toxic(String, Toxic)}):
   * removes every toxic, then installs those again, their schedules counting and their draws starting
   * over as when the proxy started. The JUnit extension calls it between tests. As for {@link
   * #add(String, Toxic)}, connections still open are candidates too: for a {@code firstN} schedule
   * to count only what comes next, let earlier connections close first ({@link TcpProxy#awaitIdle}).
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
    return "Toxics" + list().keySet() + (enabled ? "" : " (proxy disabled)") + " seed=" + seedString(seed);
  }

  static String seedString(long seed) {
    return "0x" + Long.toHexString(seed) + "L";
  }

  // --- the proxy's side ---

  boolean enabled() {
    return enabled;
  }

  void setEnabled(boolean on) {
    lock.lock();
    try {
      enabled = on;
      if (!on) {
        for (ConnectionToxics c : live) {
          c.splice.cut("disabled", false);
        }
      }
    } finally {
      lock.unlock();
    }
  }

  /** Called on the acceptor thread for each new connection, in accept order. */
  ConnectionToxics attach(Splice splice, long id) {
    ConnectionToxics c = new ConnectionToxics(splice, id);
    lock.lock();
    try {
      live.add(c);
      for (Installed i : installed) {
        decide(c, i);
      }
    } finally {
      lock.unlock();
    }
    return c;
  }

  void detach(ConnectionToxics c) {
    live.remove(c);
    c.cancelTimers();
  }

  /** Draws whether {@code i} applies to connection {@code c}; under the lock. */
  private void decide(ConnectionToxics c, Installed i) {
    long ordinal = ++i.candidates;
    Toxic t = i.toxic;
    Duration since = Duration.ofNanos(System.nanoTime() - i.installedNanos);
    long draw = Rng.mix(seed, i.name.hashCode(), ordinal);
    // A window toxic is a time, not a set of connections: it applies to every connection open during
    // the window (accepted before it ends), and acts on their data only while the window lasts.
    boolean admitted = t.schedule() instanceof Schedule.Window w
        ? since.compareTo(w.until()) < 0
        : t.schedule().admits(ordinal, since);
    if (!admitted || !(Rng.unit(draw) < t.toxicity())) {
      return;
    }
    ActiveToxic a = new ActiveToxic(i, Rng.mix(draw, 0x5DEECE66DL, ordinal));
    journal.record(new TcpEvent.ToxicApplied(c.id, i.name, t, Instant.now()));
    c.add(a);
    if (t instanceof Toxic.Timeout x && !x.timeout().isZero()) { // counted from when the toxic starts acting
      a.startTimer(proxy.executor(), x.timeout().plus(a.untilEffect()), () -> {
        // a window may have ended meanwhile: a connection it dropped nothing of is left healthy
        if (a.inEffect(System.nanoTime()) || a.dropped > 0) {
          c.splice.cut("toxic " + i.name + ": timed out", false);
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
