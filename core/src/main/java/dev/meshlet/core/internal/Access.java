package dev.meshlet.core.internal;

import dev.meshlet.core.Cluster;
import dev.meshlet.core.Endpoint;
import dev.meshlet.core.Journal;
import java.util.Objects;
import org.jspecify.annotations.Nullable;

/**
 * How this package reaches the package-private side of {@link Cluster}, {@link Endpoint} and {@link
 * Journal} without a public method on them, as the JDK's {@code SharedSecrets}: each of those types
 * installs its accessor from its static initializer, once.
 */
public final class Access {
  private static @Nullable ClusterAccess clusters;
  private static @Nullable EndpointAccess endpoints;
  private static @Nullable JournalAccess journals;

  private Access() {}

  /** What {@link Admission} and {@link Seeds} need of a cluster. */
  public interface ClusterAccess {
    /** The circuit breaker: connections or requests in flight. */
    Gate active(Cluster cluster);

    /** The pending limit: requests or connections waiting for a backend connection. */
    Gate pending(Cluster cluster);

    /** The retry budget's count of retries in flight. */
    Gate retries(Cluster cluster);

    /** Gives {@code cluster} {@code seed} unless it has a seed; whether it took it. */
    boolean offerSeed(Cluster cluster, long seed);
  }

  /** What {@link Lease} needs of an endpoint. */
  public interface EndpointAccess {
    /** Counts a connection or request to {@code endpoint} as started and in flight. */
    void begin(Endpoint endpoint);

    /** Counts one that {@link #begin} started as ended. */
    void end(Endpoint endpoint);

    /** Resets the endpoint's failure streak. */
    void succeeded(Endpoint endpoint);

    /** Counts a failure, which may eject the endpoint. */
    void failed(Endpoint endpoint);

    /** Adds to the bytes received from the backend. */
    void bytesIn(Endpoint endpoint, long n);

    /** Adds to the bytes sent to the backend. */
    void bytesOut(Endpoint endpoint, long n);
  }

  /** What {@link JournalWriter} needs of a journal. */
  public interface JournalAccess {
    /**
     * A new journal keeping the last {@code capacity} entries, naming {@code owner} in failures.
     */
    <E> Journal<E> create(int capacity, String owner);

    /** Appends whatever the clears. */
    <E> void record(Journal<E> journal, E entry);

    /** Appends unless the journal was cleared since {@code generation}. */
    <E> void record(Journal<E> journal, E entry, long generation);

    /** How many times the journal was cleared. */
    long generation(Journal<?> journal);
  }

  /** Installs the cluster accessor; called once, by {@link Cluster}'s static initializer. */
  public static void setClusterAccess(ClusterAccess access) {
    if (clusters != null) {
      throw new IllegalStateException("cluster access already set");
    }
    clusters = Objects.requireNonNull(access, "access");
  }

  /** Installs the endpoint accessor; called once, by {@link Endpoint}'s static initializer. */
  public static void setEndpointAccess(EndpointAccess access) {
    if (endpoints != null) {
      throw new IllegalStateException("endpoint access already set");
    }
    endpoints = Objects.requireNonNull(access, "access");
  }

  /** Installs the journal accessor; called once, by {@link Journal}'s static initializer. */
  public static void setJournalAccess(JournalAccess access) {
    if (journals != null) {
      throw new IllegalStateException("journal access already set");
    }
    journals = Objects.requireNonNull(access, "access");
  }

  // A caller holding an instance has the class initialized; only creating a journal may come first.

  static ClusterAccess clusters() {
    return Objects.requireNonNull(clusters, "Cluster not initialized");
  }

  static EndpointAccess endpoints() {
    return Objects.requireNonNull(endpoints, "Endpoint not initialized");
  }

  static JournalAccess journals() {
    JournalAccess a = journals;
    if (a == null) {
      initialize(Journal.class);
      a = Objects.requireNonNull(journals, "Journal not initialized");
    }
    return a;
  }

  private static void initialize(Class<?> type) {
    try {
      Class.forName(type.getName(), true, type.getClassLoader());
    } catch (ClassNotFoundException e) {
      throw new IllegalStateException(e);
    }
  }
}
