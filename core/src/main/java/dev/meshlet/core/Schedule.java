package dev.meshlet.core;

import java.time.Duration;
import java.util.Objects;

/**
 * When a fault may fire, counted over the connections (L4) or requests (L7) it sees after it was
 * installed: always, the first N, every K-th, or only within a time window. A fault fires when its
 * schedule admits the candidate <em>and</em> its probability draw succeeds.
 *
 * <pre>{@code
 * Toxic.resetPeer(Duration.ZERO).schedule(Schedule.firstN(3))   // the first three connections are reset
 * }</pre>
 */
public sealed interface Schedule {

  /** Every candidate (the default). */
  static Schedule always() {
    return Always.INSTANCE;
  }

  /** Only the first {@code n} candidates (1-based ordinals 1..n). */
  static Schedule firstN(int n) {
    return new FirstN(n);
  }

  /** Every {@code k}-th candidate: ordinals k, 2k, 3k, … */
  static Schedule everyNth(int k) {
    return new EveryNth(k);
  }

  /**
   * A time window, {@code from} (inclusive) to {@code until} (exclusive) after the fault was
   * installed. At L7: requests that arrive within it. At L4: connections open during it — accepted
   * before it ends, including those already open — and only while it lasts: a toxic acts on the
   * bytes that move within the window (a timeout's clock starts when the window opens), so a
   * long-lived connection, such as a pooled one, is faulty for the window and healthy again after
   * it.
   */
  static Schedule window(Duration from, Duration until) {
    return new Window(from, until);
  }

  /**
   * Whether the candidate with this 1-based {@code ordinal}, seen {@code sinceInstalled} after the
   * fault was installed, may fire.
   */
  boolean admits(long ordinal, Duration sinceInstalled);

  /** Every candidate. */
  enum Always implements Schedule {
    /** The only instance. */
    INSTANCE;

    @Override
    public boolean admits(long ordinal, Duration sinceInstalled) {
      return true;
    }

    @Override
    public String toString() {
      return "always";
    }
  }

  /**
   * The first {@code n} candidates.
   *
   * @param n how many, at least 1
   */
  record FirstN(int n) implements Schedule {
    /** Validates {@code n}. */
    public FirstN {
      if (n < 1) {
        throw new IllegalArgumentException("firstN: " + n + " (expected: >= 1)");
      }
    }

    @Override
    public boolean admits(long ordinal, Duration sinceInstalled) {
      return ordinal <= n;
    }
  }

  /**
   * Every {@code k}-th candidate.
   *
   * @param k the period, at least 1 (1 = every candidate)
   */
  record EveryNth(int k) implements Schedule {
    /** Validates {@code k}. */
    public EveryNth {
      if (k < 1) {
        throw new IllegalArgumentException("everyNth: " + k + " (expected: >= 1)");
      }
    }

    @Override
    public boolean admits(long ordinal, Duration sinceInstalled) {
      return ordinal % k == 0;
    }
  }

  /**
   * Candidates seen in {@code [from, until)} after installation.
   *
   * @param from the start of the window, at least 0
   * @param until the end of the window, after {@code from}
   */
  record Window(Duration from, Duration until) implements Schedule {
    /** Validates the window. */
    public Window {
      Objects.requireNonNull(from, "from");
      Objects.requireNonNull(until, "until");
      if (from.isNegative() || until.compareTo(from) <= 0) {
        throw new IllegalArgumentException(
            "window: [" + from + ", " + until + ") (expected: 0 <= from < until)");
      }
    }

    @Override
    public boolean admits(long ordinal, Duration sinceInstalled) {
      return sinceInstalled.compareTo(from) >= 0 && sinceInstalled.compareTo(until) < 0;
    }
  }
}
