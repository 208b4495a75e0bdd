package dev.meshlet.l4;

import java.util.concurrent.atomic.AtomicInteger;

/**
 * Two ends joined by two {@link Direction}s, each on its own virtual thread, ended once with a
 * {@link Cause}: a proxied {@link Connection}, or an upgraded HTTP connection handed over as a
 * {@link TunnelSplice}. The directions and the toxics see the ends only through this.
 */
abstract class Splice {
  private final AtomicInteger openDirections = new AtomicInteger(2);

  /** Numbered from 1 in arrival order; the journal and the toxics' draws use it. */
  final long id;

  /** Bumped on every read in either direction; an idle reaper compares it between scans. */
  volatile long activity;

  /** The toxics have drawn for this splice; guarded by the {@link Toxics} lock. */
  boolean attached;

  Splice(long id) {
    this.id = id;
  }

  /** The direction a toxic for {@code side} acts on. */
  abstract Direction direction(Toxic.Direction side);

  /**
   * Ends the splice, once: the first call wins. With {@code reset} both ends are reset; otherwise
   * each gets its end of stream after the bytes already written.
   */
  abstract void end(Cause how, String why, boolean reset);

  /** Whether the splice is ending (its ends' failing I/O is then no reason to reset). */
  abstract boolean isClosing();

  /** A read or write failed with {@code why}: a reset or I/O error on one end resets both. */
  void failed(Throwable why) {
    if (!isClosing()) {
      end(Cause.RESET, Cause.RESET.label(), true);
    }
  }

  /** Whether neither direction has ended yet (so an end of stream half-closes). */
  final boolean bothDirectionsOpen() {
    return openDirections.get() > 1;
  }

  /** A direction's thread is done; the second one to finish closes the splice. */
  final void directionEnded() {
    if (openDirections.decrementAndGet() == 0) {
      end(Cause.CLOSED, Cause.CLOSED.label(), false);
    }
  }
}
