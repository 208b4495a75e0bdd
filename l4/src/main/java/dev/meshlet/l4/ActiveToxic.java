package dev.meshlet.l4;

import dev.meshlet.core.Schedule;
import java.time.Duration;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Future;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import org.jspecify.annotations.Nullable;

/** One toxic in effect on one connection, with the state its direction's thread keeps for it. */
final class ActiveToxic {
  final Toxics.Installed installed;
  final Toxic toxic;
  final String name;

  /** Jitter and slice sizes; used only by the direction's thread. */
  final SplittableRandom random;

  /** Bytes let through so far (limit data); owned by the direction's thread. */
  long passed;

  /** When the next write may start (bandwidth); owned by the direction's thread. */
  long nextWriteNanos;

  /** Bytes dropped (timeout); written by the direction's thread, read when the toxic is removed. */
  volatile long dropped;

  private volatile @Nullable Future<?> timer;

  /**
   * When a {@link Schedule.Window window} toxic acts (nanoseconds after installation, saturated);
   * always otherwise.
   */
  private final boolean windowed;

  private final long installedNanos;
  private final long fromNanos;
  private final long untilNanos;

  ActiveToxic(Toxics.Installed installed, long seed) {
    this.installed = installed;
    this.toxic = installed.toxic;
    this.name = installed.name;
    this.random = new SplittableRandom(seed);
    windowed = toxic.schedule() instanceof Schedule.Window;
    installedNanos = installed.installedNanos;
    if (toxic.schedule()
        instanceof Schedule.Window w) { // a window may be "from 5 s on": Long.MAX_VALUE s
      fromNanos = TimeUnit.NANOSECONDS.convert(w.from());
      untilNanos = TimeUnit.NANOSECONDS.convert(w.until());
    } else {
      fromNanos = 0;
      untilNanos = 0;
    }
  }

  /**
   * Whether the toxic acts on data moving at {@code nowNanos}: a window toxic only within its
   * window.
   */
  boolean inEffect(long nowNanos) {
    long since = nowNanos - installedNanos;
    return !windowed || (since >= fromNanos && since < untilNanos);
  }

  /** How long until a window toxic starts acting (0 if it does already, or has no window). */
  Duration untilEffect() {
    return windowed
        ? Duration.ofNanos(Math.max(0, fromNanos - (System.nanoTime() - installedNanos)))
        : Duration.ZERO;
  }

  /**
   * Runs {@code action} after {@code delay} on a virtual thread of the proxy, unless cancelled
   * first.
   */
  void startTimer(ExecutorService executor, Duration delay, Runnable action) {
    try {
      timer =
          executor.submit(
              () -> {
                try {
                  Thread.sleep(delay);
                } catch (InterruptedException e) {
                  return; // cancelled: the toxic was removed or the connection ended
                }
                action.run();
              });
    } catch (RejectedExecutionException e) {
      // the proxy is closing; the connection goes with it
    }
  }

  void cancelTimer() {
    Future<?> t = timer;
    if (t != null) {
      t.cancel(true);
    }
  }

  @Override
  public String toString() {
    return name + "=" + toxic;
  }
}
