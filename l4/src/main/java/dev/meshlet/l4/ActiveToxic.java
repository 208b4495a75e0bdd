package dev.meshlet.l4;

import java.time.Duration;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Future;
import java.util.concurrent.RejectedExecutionException;
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

  ActiveToxic(Toxics.Installed installed, long seed) {
    this.installed = installed;
    this.toxic = installed.toxic;
    this.name = installed.name;
    this.random = new SplittableRandom(seed);
  }

  /** Runs {@code action} after {@code delay} on a virtual thread of the proxy, unless cancelled first. */
  void startTimer(ExecutorService executor, Duration delay, Runnable action) {
    try {
      timer = executor.submit(() -> {
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
