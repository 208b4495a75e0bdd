package dev.meshlet.l4;

import dev.meshlet.core.internal.JournalWriter;
import dev.meshlet.l4.internal.Pipe;
import dev.meshlet.l4.internal.TunnelSplicer;
import dev.meshlet.l4.internal.Tunnels;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The splicer of upgraded connections another module hands over: its tunnels, their virtual
 * threads, buffers, counters and toxics, as a {@link TcpProxy} has for its connections, with no
 * listener, dialling or idle reaper (the ends time out on their own, as their owner set).
 */
final class TunnelSplicing implements TunnelSplicer, SpliceContext, SpliceRegistry {
  static {
    Tunnels.install(TunnelSplicing::new);
  }

  /** Toxics applied, kept for a test's failure message; older entries are dropped. */
  private static final int JOURNAL_CAPACITY = 256;

  private final String name;
  private final Counters counters = new Counters();
  private final Threads threads;
  private final BufferPool pool;
  private final Toxics toxics;
  private final Set<TunnelSplice> live = ConcurrentHashMap.newKeySet();
  private final AtomicLong ids = new AtomicLong();
  private final AtomicBoolean closed = new AtomicBoolean();

  private TunnelSplicing(String name, long seed, Map<String, Toxic> initial) {
    this.name = name;
    threads = new Threads(name);
    pool =
        new BufferPool(
            16 * 1024,
            256 * 1024,
            64,
            Math.min(64L * 1024 * 1024, Runtime.getRuntime().maxMemory() / 8),
            name);
    toxics =
        new Toxics(
            this,
            seed,
            JournalWriter.create(JOURNAL_CAPACITY, name + " seed=" + Toxics.seedString(seed)),
            initial);
  }

  @Override
  public void splice(Pipe client, Pipe backend, Ended ended) {
    Objects.requireNonNull(client, "client");
    Objects.requireNonNull(backend, "backend");
    Objects.requireNonNull(ended, "ended");
    TunnelSplice s = new TunnelSplice(this, ids.incrementAndGet(), client, backend, ended);
    counters.accepted.increment();
    live.add(s);
    if (closed.get()) { // close() may have missed it
      s.end(Cause.PROXY_CLOSED, Cause.PROXY_CLOSED.label(), true);
      return;
    }
    toxics.attach(s); // before the directions read: the toxics in effect now apply to its bytes
    s.start();
  }

  /** The tunnel ended (called once, by {@link TunnelSplice#end}): it leaves the registry. */
  void ended(TunnelSplice s) {
    live.remove(s);
    toxics.detach(s);
  }

  @Override
  public Toxics toxics() {
    return toxics;
  }

  @Override
  public long opened() {
    return counters.accepted.sum();
  }

  @Override
  public int open() {
    return live.size();
  }

  @Override
  public long bytesUpstream() {
    return counters.bytesUpstream.sum();
  }

  @Override
  public long bytesDownstream() {
    return counters.bytesDownstream.sum();
  }

  @Override
  public long toxicsApplied() {
    return counters.toxicsApplied.sum();
  }

  @Override
  public long resets() {
    return counters.resets.sum();
  }

  @Override
  public long idleTimeouts() {
    return counters.idleTimeouts.sum();
  }

  @Override
  public void close() {
    if (!closed.compareAndSet(false, true)) {
      return;
    }
    for (TunnelSplice s : live) {
      s.end(Cause.PROXY_CLOSED, Cause.PROXY_CLOSED.label(), true);
    }
    threads.shutdown(name);
  }

  // --- what a tunnel sees of its splicer ---

  @Override
  public List<TunnelSplice> inAcceptOrder() {
    List<TunnelSplice> open = new ArrayList<>(live);
    open.sort(Comparator.comparingLong(s -> s.id));
    return open;
  }

  @Override
  public Counters counters() {
    return counters;
  }

  @Override
  public ExecutorService executor() {
    return threads.executor();
  }

  @Override
  public BufferPool pool() {
    return pool;
  }

  @Override
  public void execute(Runnable task) {
    threads.execute(task);
  }

  @Override
  public String toString() {
    return name + " " + toxics;
  }
}
