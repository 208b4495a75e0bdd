package dev.meshlet.l4.internal;

import dev.meshlet.l4.Toxic;
import java.util.Map;
import java.util.Objects;
import org.jspecify.annotations.Nullable;

/** Makes {@link TunnelSplicer}s; its implementation lives with the splicer, in {@code l4}. */
public final class Tunnels {
  /** Makes a splicer; installed once by the l4 package, which owns the directions and toxics. */
  public interface Factory {
    /** A splicer named {@code name} (its threads' names), drawing toxicity from {@code seed}. */
    TunnelSplicer create(String name, long seed, Map<String, Toxic> initial);
  }

  private static volatile @Nullable Factory factory;

  private Tunnels() {}

  /**
   * A new splicer whose threads are named after {@code name}, its toxics drawing from {@code seed}
   * and starting with {@code initial} (name to toxic, in order).
   */
  public static TunnelSplicer splicer(String name, long seed, Map<String, Toxic> initial) {
    Objects.requireNonNull(name, "name");
    Objects.requireNonNull(initial, "initial");
    Factory f = factory;
    if (f == null) {
      try { // its class initialiser installs the factory
        Class.forName("dev.meshlet.l4.TunnelSplicing", true, Tunnels.class.getClassLoader());
      } catch (ClassNotFoundException e) {
        throw new IllegalStateException("meshlet-l4: the tunnel splicer is missing", e);
      }
      f = factory;
      if (f == null) {
        throw new IllegalStateException("meshlet-l4: the tunnel splicer did not install itself");
      }
    }
    return f.create(name, seed, initial);
  }

  /**
   * Installs the factory; called once, by the l4 package's splicer.
   *
   * @throws IllegalStateException if one is installed already
   */
  public static void install(Factory f) {
    Objects.requireNonNull(f, "factory");
    if (factory != null) {
      throw new IllegalStateException("the tunnel splicer factory is installed already");
    }
    factory = f;
  }
}
