package dev.meshlet.l7;

import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Episodes of one kind of socket failure (accepting clients, or opening sockets to backends),
 * mostly the process running out of file descriptors: an episode runs from the first failure to the
 * next success and is logged once, without a stack trace, however many requests it fails.
 */
final class DescriptorShortage {
  private static final Logger LOG = LoggerFactory.getLogger(HttpProxy.class);

  private final String what;
  private final @Nullable Counters total;
  private final HttpProxyStats.ErrorKind kind;
  private final AtomicBoolean inEpisode = new AtomicBoolean();
  private final AtomicLong failures = new AtomicLong();

  /**
   * Counts each episode as {@code kind} in {@code total} when that is not null (else the caller
   * counts).
   */
  DescriptorShortage(String what, @Nullable Counters total, HttpProxyStats.ErrorKind kind) {
    this.what = what;
    this.total = total;
    this.kind = kind;
  }

  /**
   * Whether {@code t} (or a cause) says the process or system is out of file descriptors (EMFILE,
   * ENFILE).
   */
  static boolean isShortage(@Nullable Throwable t) {
    for (Throwable c = t; c != null; c = c.getCause()) {
      String m = c.getMessage();
      if (m != null && m.contains("Too many open files")) {
        return true;
      }
    }
    return false;
  }

  /** A failure: the first of an episode is counted and logged. */
  void failed(Throwable x) {
    failures.incrementAndGet();
    if (inEpisode.compareAndSet(false, true)) {
      if (total != null) {
        total.error(kind);
      }
      LOG.warn(
          "{} failed: {}{}; logged once until it works again",
          what,
          x,
          isShortage(x)
              ? " (out of file descriptors: raise ulimit -n or lower maxConnections)"
              : "");
    }
  }

  /** A success: ends the episode, if one runs (a volatile read otherwise). */
  void succeeded() {
    if (inEpisode.get() && inEpisode.compareAndSet(true, false)) {
      LOG.info("{} works again after {} failures", what, failures.getAndSet(0));
    }
  }
}
