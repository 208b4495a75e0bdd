package dev.meshlet.core.internal;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

/**
 * A place taken in one of a cluster's limits ({@link Admission}); {@link #close()} gives it back.
 * Closing twice, from any threads, gives it back once.
 */
public final class Permit implements AutoCloseable {
  private static final VarHandle CLOSED;

  static {
    try {
      CLOSED = MethodHandles.lookup().findVarHandle(Permit.class, "closed", boolean.class);
    } catch (ReflectiveOperationException e) {
      throw new ExceptionInInitializerError(e);
    }
  }

  private final Gate gate;

  @SuppressWarnings("unused") // through CLOSED
  private volatile boolean closed;

  Permit(Gate gate) {
    this.gate = gate;
  }

  /** Whether {@link #close()} ran. */
  public boolean closed() {
    return closed;
  }

  /** Gives the place back; a second call does nothing. */
  @Override
  public void close() {
    if (CLOSED.compareAndSet(this, false, true)) {
      gate.exit();
    }
  }

  @Override
  public String toString() {
    return closed ? "Permit[closed]" : "Permit[held]";
  }
}
