package dev.meshlet.core;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.locks.ReentrantLock;
import org.jspecify.annotations.Nullable;

/**
 * A named pool of backends with its balancer and live per-endpoint counters.
 *
 * <p>Backends can be {@linkplain #add added} and {@linkplain #remove removed} while traffic flows: the
 * next pick sees the change, and connections or requests already in flight to a removed backend run
 * to their end undisturbed. A cluster may be shared by several proxies, L4 and L7 alike.
 *
 * <pre>{@code
 * Cluster web = Cluster.builder("web")
 *     .backends(Backend.of("127.0.0.1", 8081), Backend.of("127.0.0.1", 8082))
 *     .balancer(Balancer.roundRobin())
 *     .build();
 * web.add(Backend.of("127.0.0.1", 8083));
 * }</pre>
 */
public final class Cluster {

  /** The immutable state picks read: endpoints in service and the picker over them. */
  private record State(List<Endpoint> endpoints, Balancer.@Nullable Picker picker) {}

  private final String name;
  private final Balancer balancer;
  private final ReentrantLock updates = new ReentrantLock();
  private volatile State state;

  private Cluster(String name, Balancer balancer, List<Backend> backends) {
    this.name = name;
    this.balancer = balancer;
    List<Endpoint> endpoints = new ArrayList<>(backends.size());
    for (Backend b : backends) {
      endpoints.add(new Endpoint(b));
    }
    this.state = newState(endpoints);
  }

  /** Starts a cluster with the given name (used in stats and logs). */
  public static Builder builder(String name) {
    return new Builder(name);
  }

  /** A round-robin cluster named {@code name} over {@code backends}. */
  public static Cluster of(String name, Backend... backends) {
    return builder(name).backends(backends).build();
  }

  private State newState(List<Endpoint> endpoints) {
    List<Endpoint> copy = List.copyOf(endpoints);
    return new State(copy, copy.isEmpty() ? null : balancer.picker(copy));
  }

  /** The cluster's name. */
  public String name() {
    return name;
  }

  /** The balancer that picks among the endpoints. */
  public Balancer balancer() {
    return balancer;
  }

  /** The endpoints in service now, in the order they were added. */
  public List<Endpoint> endpoints() {
    return state.endpoints();
  }

  /**
   * Picks an endpoint for a new connection or request.
   *
   * @param key a hash identifying the client or request, read by {@link Balancer#consistentHash()}
   * @return the endpoint, or {@code null} when the cluster has none in service
   */
  public @Nullable Endpoint pick(long key) {
    Balancer.Picker picker = state.picker();
    return picker == null ? null : picker.pick(key, 0);
  }

  /**
   * Picks an endpoint for a retry, preferring one other than {@code previous} when there is a choice.
   *
   * @param attempt 1 for the first retry, 2 for the second, …
   */
  public @Nullable Endpoint pick(long key, int attempt, @Nullable Endpoint previous) {
    State s = state;
    Balancer.Picker picker = s.picker();
    if (picker == null) {
      return null;
    }
    Endpoint e = picker.pick(key, attempt);
    if (previous == null || s.endpoints().size() < 2) {
      return e;
    }
    if (e == previous) {
      e = picker.pick(key, attempt + 1);
    }
    if (e == previous) { // random balancers can repeat themselves: take the next one in order
      List<Endpoint> endpoints = s.endpoints();
      e = endpoints.get((endpoints.indexOf(previous) + 1) % endpoints.size());
    }
    return e;
  }

  /**
   * Adds a backend; the next pick may choose it.
   *
   * @throws IllegalArgumentException if a backend with the same host and port is already in service
   */
  public Endpoint add(Backend backend) {
    Objects.requireNonNull(backend, "backend");
    updates.lock();
    try {
      List<Endpoint> endpoints = new ArrayList<>(state.endpoints());
      for (Endpoint e : endpoints) {
        if (sameAddress(e.backend(), backend)) {
          throw new IllegalArgumentException(
              "cluster " + name + ": backend " + backend.authority() + " is already in service");
        }
      }
      Endpoint added = new Endpoint(backend);
      endpoints.add(added);
      state = newState(endpoints);
      return added;
    } finally {
      updates.unlock();
    }
  }

  /**
   * Takes the backend with the same host and port out of service: it gets no new traffic, and what is
   * in flight to it runs on.
   *
   * @return whether such a backend was in service
   */
  public boolean remove(Backend backend) {
    Objects.requireNonNull(backend, "backend");
    updates.lock();
    try {
      List<Endpoint> endpoints = new ArrayList<>(state.endpoints());
      for (int i = 0; i < endpoints.size(); i++) {
        Endpoint e = endpoints.get(i);
        if (sameAddress(e.backend(), backend)) {
          endpoints.remove(i);
          state = newState(endpoints);
          e.retire();
          return true;
        }
      }
      return false;
    } finally {
      updates.unlock();
    }
  }

  private static boolean sameAddress(Backend a, Backend b) {
    return a.port() == b.port() && a.host().equalsIgnoreCase(b.host());
  }

  @Override
  public String toString() {
    return "Cluster[" + name + " " + balancer + " " + state.endpoints() + "]";
  }

  /** Collects a cluster's settings; {@link #build()} validates them. */
  public static final class Builder {
    private final String name;
    private final List<Backend> backends = new ArrayList<>();
    private Balancer balancer = Balancer.roundRobin();

    private Builder(String name) {
      Objects.requireNonNull(name, "name");
      if (name.isBlank()) {
        throw new IllegalArgumentException("cluster name: blank (expected: a name such as \"api\")");
      }
      this.name = name;
    }

    /** Adds backends. */
    public Builder backends(Backend... backends) {
      return backends(Arrays.asList(backends));
    }

    /** Adds backends. */
    public Builder backends(Collection<Backend> backends) {
      for (Backend b : backends) {
        this.backends.add(Objects.requireNonNull(b, "backend"));
      }
      return this;
    }

    /** Adds a backend parsed from {@code "host:port"}. */
    public Builder backend(String hostAndPort) {
      backends.add(Backend.parse(hostAndPort));
      return this;
    }

    /** The balancer; default {@link Balancer#roundRobin()}. */
    public Builder balancer(Balancer balancer) {
      this.balancer = Objects.requireNonNull(balancer, "balancer");
      return this;
    }

    /**
     * Builds the cluster. It may be empty (backends can be added later); picks then return null.
     *
     * @throws IllegalArgumentException if two backends share a host and port
     */
    public Cluster build() {
      for (int i = 0; i < backends.size(); i++) {
        for (int j = i + 1; j < backends.size(); j++) {
          if (sameAddress(backends.get(i), backends.get(j))) {
            throw new IllegalArgumentException(
                "cluster " + name + ": backend " + backends.get(j).authority() + " listed twice");
          }
        }
      }
      return new Cluster(name, balancer, backends);
    }
  }
}
