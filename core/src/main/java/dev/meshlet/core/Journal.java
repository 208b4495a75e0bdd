package dev.meshlet.core;

import dev.meshlet.core.internal.Access;
import dev.meshlet.core.internal.JournalWriter;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Predicate;
import org.jspecify.annotations.Nullable;

/**
 * A bounded, in-memory record of what a proxy did (connections, requests, faults fired), for tests
 * to assert on. When full, the oldest entry is dropped and {@linkplain #dropped() counted}: never a
 * silent cap.
 *
 * <pre>{@code
 * TcpEvent.Closed closed = proxy.journal().await(TcpEvent.Closed.class, e -> true, Duration.ofSeconds(5));
 * assertThat(proxy.journal().dropped()).isZero();
 * }</pre>
 *
 * <p>Thread-safe. Recording takes a short lock and happens per connection or request, never per
 * byte. Only the proxy that owns a journal records into it; users read, await and {@linkplain
 * #clear() clear}.
 *
 * @param <E> the kind of entry the proxy records
 */
public final class Journal<E> {
  static {
    Access.setJournalAccess(new Writing());
  }

  private final ReentrantLock lock = new ReentrantLock();
  private final Condition changed = lock.newCondition();
  private final @Nullable Object[] ring;
  private final String owner;
  private int head; // index of the oldest entry
  private int size;
  private long recorded;
  private long dropped;
  private volatile long generation; // clears so far; written under the lock

  /**
   * A journal that keeps the last {@code capacity} entries and names its {@code owner} (e.g. a
   * proxy and its seed) in failure messages.
   */
  Journal(int capacity, String owner) {
    if (capacity < 0) {
      throw new IllegalArgumentException("journal capacity: " + capacity + " (expected: >= 0)");
    }
    this.ring = new Object[capacity];
    this.owner = Objects.requireNonNull(owner, "owner");
  }

  /** How many entries the journal keeps at most. */
  public int capacity() {
    return ring.length;
  }

  /**
   * Appends an entry, dropping (and counting) the oldest when full; whatever the clears, unlike
   * {@link #record(Object, long)}.
   */
  void record(E entry) {
    Objects.requireNonNull(entry, "entry");
    lock.lock();
    try {
      append(entry);
    } finally {
      lock.unlock();
    }
  }

  /**
   * How many times the journal was {@linkplain #clear() cleared}. A proxy reads it when something
   * begins (a request arrives) and hands it to {@link #record(Object, long)} when that ends.
   */
  long generation() {
    return generation;
  }

  /**
   * Appends an entry about something that began when {@link #generation()} was {@code generation},
   * unless the journal was cleared since: what began before a clear and ends after it (a request a
   * test left hanging) is not journaled among what came after, nor counted.
   */
  void record(E entry, long generation) {
    Objects.requireNonNull(entry, "entry");
    lock.lock();
    try {
      if (generation == this.generation) {
        append(entry);
      }
    } finally {
      lock.unlock();
    }
  }

  /** {@link #record(Object)} with the lock held. */
  private void append(E entry) {
    recorded++;
    if (ring.length == 0) {
      dropped++;
      return;
    }
    if (size == ring.length) {
      ring[head] = entry;
      head = (head + 1) % ring.length;
      dropped++;
    } else {
      ring[(head + size) % ring.length] = entry;
      size++;
    }
    changed.signalAll();
  }

  /** The entries kept, oldest first (a copy). */
  public List<E> entries() {
    lock.lock();
    try {
      List<E> out = new ArrayList<>(size);
      for (int i = 0; i < size; i++) {
        @SuppressWarnings("unchecked")
        E e = (E) ring[(head + i) % ring.length];
        out.add(e);
      }
      return out;
    } finally {
      lock.unlock();
    }
  }

  /** The entries of one type kept, oldest first, e.g. {@code entries(TcpEvent.Closed.class)}. */
  public <T extends E> List<T> entries(Class<T> type) {
    Objects.requireNonNull(type, "type");
    List<T> out = new ArrayList<>();
    for (E e : entries()) {
      if (type.isInstance(e)) {
        out.add(type.cast(e));
      }
    }
    return out;
  }

  /** Entries ever recorded, including dropped ones. */
  public long recorded() {
    lock.lock();
    try {
      return recorded;
    } finally {
      lock.unlock();
    }
  }

  /** Entries dropped because the journal was full (or had no capacity). */
  public long dropped() {
    lock.lock();
    try {
      return dropped;
    } finally {
      lock.unlock();
    }
  }

  /**
   * Forgets the entries kept; the {@link #recorded()} and {@link #dropped()} counters restart at 0,
   * and an entry about something that began before the clear and ends after it (a request a test
   * left hanging) is not journaled.
   */
  public void clear() {
    lock.lock();
    try {
      Arrays.fill(ring, null);
      head = 0;
      size = 0;
      recorded = 0;
      dropped = 0;
      generation++;
    } finally {
      lock.unlock();
    }
  }

  /**
   * Waits until an entry of {@code type} matching {@code condition} is in the journal and returns
   * the first such entry (it may have been recorded before the call).
   *
   * @throws AssertionError naming what was awaited and the last entries, if none appears in time
   */
  public <T extends E> T await(Class<T> type, Predicate<? super T> condition, Duration timeout) {
    Objects.requireNonNull(type, "type");
    Objects.requireNonNull(condition, "condition");
    long deadline = System.nanoTime() + timeout.toNanos();
    lock.lock();
    try {
      while (true) {
        for (int i = 0; i < size; i++) {
          Object e = ring[(head + i) % ring.length];
          if (type.isInstance(e) && condition.test(type.cast(e))) {
            return type.cast(e);
          }
        }
        long left = deadline - System.nanoTime();
        if (left <= 0) {
          throw new AssertionError(
              owner
                  + ": timed out after "
                  + timeout
                  + " waiting for a "
                  + type.getSimpleName()
                  + " entry in the journal; "
                  + describeTail(10));
        }
        changed.await(left, TimeUnit.NANOSECONDS);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new AssertionError(
          "interrupted while waiting for a " + type.getSimpleName() + " entry", e);
    } finally {
      lock.unlock();
    }
  }

  /**
   * Waits until the journal holds at least {@code count} entries of {@code type} and returns them,
   * oldest first (e.g. "three requests completed").
   *
   * @throws AssertionError naming what was awaited and the last entries, if they do not appear in
   *     time
   * @throws IllegalArgumentException at once if {@code count} exceeds the {@linkplain #capacity()
   *     capacity}: the journal could never hold that many
   */
  public <T extends E> List<T> awaitCount(Class<T> type, int count, Duration timeout) {
    Objects.requireNonNull(type, "type");
    if (count > ring.length) {
      throw new IllegalArgumentException(
          owner
              + ": cannot wait for "
              + count
              + " "
              + type.getSimpleName()
              + " entries: the journal keeps only the last "
              + ring.length
              + " (raise the proxy's journalCapacity)");
    }
    long deadline = System.nanoTime() + timeout.toNanos();
    lock.lock();
    try {
      while (true) {
        List<T> found = entries(type);
        if (found.size() >= count) {
          return found;
        }
        long left = deadline - System.nanoTime();
        if (left <= 0) {
          throw new AssertionError(
              owner
                  + ": timed out after "
                  + timeout
                  + " waiting for "
                  + count
                  + " "
                  + type.getSimpleName()
                  + " entries (found "
                  + found.size()
                  + "); "
                  + describeTail(10));
        }
        changed.await(left, TimeUnit.NANOSECONDS);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new AssertionError(
          "interrupted while waiting for " + count + " " + type.getSimpleName() + " entries", e);
    } finally {
      lock.unlock();
    }
  }

  /** A short description of the last {@code n} entries, for failure messages. */
  public String describeTail(int n) {
    List<E> all = entries();
    long droppedNow = dropped();
    StringBuilder sb =
        new StringBuilder(owner + " journal (" + all.size() + " kept, " + droppedNow + " dropped)");
    if (all.isEmpty()) {
      return sb.append(": empty").toString();
    }
    sb.append(", last ").append(Math.min(n, all.size())).append(':');
    for (int i = Math.max(0, all.size() - n); i < all.size(); i++) {
      sb.append("\n  ").append(all.get(i));
    }
    return sb.toString();
  }

  @Override
  public String toString() {
    return "Journal["
        + owner
        + ", capacity="
        + capacity()
        + ", recorded="
        + recorded()
        + ", dropped="
        + dropped()
        + "]";
  }

  /** How {@link JournalWriter} creates and writes journals. */
  private static final class Writing implements Access.JournalAccess {
    @Override
    public <E> Journal<E> create(int capacity, String owner) {
      return new Journal<>(capacity, owner);
    }

    @Override
    public <E> void record(Journal<E> journal, E entry) {
      journal.record(entry);
    }

    @Override
    public <E> void record(Journal<E> journal, E entry, long generation) {
      journal.record(entry, generation);
    }

    @Override
    public long generation(Journal<?> journal) {
      return journal.generation();
    }
  }
}
