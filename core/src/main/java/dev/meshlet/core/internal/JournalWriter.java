package dev.meshlet.core.internal;

import dev.meshlet.core.Journal;
import java.util.Objects;

/**
 * The writing side of a {@link Journal}, which users only read, await and clear. A proxy creates
 * both with {@link #create(int, String)} and hands out {@link #journal()}.
 *
 * @param <E> the kind of entry the proxy records
 */
public final class JournalWriter<E> {
  private final Journal<E> journal;
  private final Access.JournalAccess access;

  private JournalWriter(Journal<E> journal, Access.JournalAccess access) {
    this.journal = journal;
    this.access = access;
  }

  /**
   * A new journal keeping the last {@code capacity} entries (0 keeps none, everything counts as
   * dropped) that names {@code owner} (e.g. a proxy and its seed) in failure messages, and its
   * writer.
   */
  public static <E> JournalWriter<E> create(int capacity, String owner) {
    Access.JournalAccess a = Access.journals();
    return new JournalWriter<>(a.create(capacity, owner), a);
  }

  /** A writer for a journal made some other way. */
  public static <E> JournalWriter<E> of(Journal<E> journal) {
    return new JournalWriter<>(Objects.requireNonNull(journal, "journal"), Access.journals());
  }

  /** The journal, to hand to users. */
  public Journal<E> journal() {
    return journal;
  }

  /**
   * Appends an entry, dropping (and counting) the oldest when full; whatever the clears, unlike
   * {@link #record(Object, long)}.
   */
  public void record(E entry) {
    access.record(journal, entry);
  }

  /**
   * Appends an entry about something that began when {@link #generation()} was {@code generation},
   * unless the journal was cleared since: what began before a clear and ends after it (a request a
   * test left hanging) is not journaled among what came after, nor counted.
   */
  public void record(E entry, long generation) {
    access.record(journal, entry, generation);
  }

  /**
   * How many times the journal was cleared. Read it when something begins (a request arrives) and
   * hand it to {@link #record(Object, long)} when that ends.
   */
  public long generation() {
    return access.generation(journal);
  }
}
