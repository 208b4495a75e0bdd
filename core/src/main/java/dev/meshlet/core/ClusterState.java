package dev.meshlet.core;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import org.jspecify.annotations.Nullable;

/**
 * One immutable snapshot of a cluster: its endpoints, what health checks, outlier detection and
 * slow start say of each, which are available, and the picker built over those. A cluster publishes
 * a whole new snapshot at once, so its stats and its picks always come from one snapshot. Every
 * transition returns a new snapshot; they run under the cluster's update lock.
 */
final class ClusterState {
  private static final System.Logger LOG = System.getLogger(Cluster.class.getName());
  private static final int SLOW_START_SCALE = 100;

  /** What a cluster's snapshots are built by; fixed for the cluster's life. */
  record Rules(
      String name, Balancer balancer, long slowStartNanos, Cluster.NoneAvailable noneAvailable) {}

  private final Rules rules;
  private final Draws draws;
  private final List<Endpoint> endpoints;
  private final EndpointState[] states; // parallel to endpoints
  private final List<Endpoint> available;
  private final Balancer.@Nullable Picker picker;
  private final boolean panic;
  private final boolean timed;
  private final long refreshAt; // meaningful only when timed

  private ClusterState(
      Rules rules,
      Draws draws,
      List<Endpoint> endpoints,
      EndpointState[] states,
      List<Endpoint> available,
      Balancer.@Nullable Picker picker,
      boolean panic,
      boolean timed,
      long refreshAt) {
    this.rules = rules;
    this.draws = draws;
    this.endpoints = endpoints;
    this.states = states;
    this.available = available;
    this.picker = picker;
    this.panic = panic;
    this.timed = timed;
    this.refreshAt = refreshAt;
  }

  /** The first snapshot of a cluster over {@code endpoints}, all healthy and at full weight. */
  static ClusterState initial(Rules rules, Draws draws, List<Endpoint> endpoints, long now) {
    EndpointState[] states = new EndpointState[endpoints.size()];
    for (int i = 0; i < states.length; i++) {
      states[i] = EndpointState.initial(endpoints.get(i).backend().weight());
    }
    return build(rules, draws, new ArrayList<>(endpoints), states, now);
  }

  List<Endpoint> endpoints() {
    return endpoints;
  }

  List<Endpoint> available() {
    return available;
  }

  Balancer.@Nullable Picker picker() {
    return picker;
  }

  boolean panic() {
    return panic;
  }

  Draws draws() {
    return draws;
  }

  /**
   * Whether an ejection's end or a slow-start step is due, so a refreshed snapshot differs; reads
   * the clock only then.
   */
  boolean due(Ticker ticker) {
    return timed && ticker.nanoTime() - refreshAt >= 0;
  }

  /** The endpoint's index in this snapshot, or -1 once it is out of service. */
  int indexOf(Endpoint e) {
    for (int i = 0; i < states.length; i++) {
      if (endpoints.get(i) == e) {
        return i;
      }
    }
    return -1;
  }

  EndpointState state(int index) {
    return states[index];
  }

  int ejectedCount() {
    int n = 0;
    for (EndpointState s : states) {
      if (s.ejected()) {
        n++;
      }
    }
    return n;
  }

  /**
   * Each endpoint's stats as this snapshot has its health, ejection and weight, by display name.
   */
  Map<String, EndpointStats> endpointStats() {
    Map<String, EndpointStats> out = new LinkedHashMap<>();
    for (int i = 0; i < states.length; i++) {
      Endpoint e = endpoints.get(i);
      out.put(e.backend().displayName(), e.stats(states[i], true));
    }
    return out;
  }

  // --- transitions ---

  /** This snapshot rebuilt at {@code now}: ejections that ended, slow-start steps. */
  ClusterState refreshed(long now) {
    return build(rules, draws, new ArrayList<>(endpoints), states.clone(), now);
  }

  ClusterState withDraws(Draws draws, long now) {
    return build(rules, draws, new ArrayList<>(endpoints), states.clone(), now);
  }

  /**
   * The state with {@code wanted} in service: endpoints whose backend is wanted stay as they are,
   * the others retire and leave, and each wanted backend not in service joins through {@code make}.
   * This very state when nothing changes.
   */
  ClusterState replaced(List<Backend> wanted, Function<Backend, Endpoint> make, long now) {
    ClusterState s = this;
    List<Endpoint> in = endpoints();
    for (int i = in.size() - 1; i >= 0; i--) {
      if (!wanted.contains(in.get(i).backend())) {
        in.get(i).retire();
        s = s.without(i, now);
      }
    }
    List<Backend> kept = s.endpoints().stream().map(Endpoint::backend).toList();
    for (Backend b : wanted) {
      if (!kept.contains(b)) {
        s = s.withAdded(make.apply(b), now);
      }
    }
    return s;
  }

  /** {@code backends} as a list, checked to name each host and port once. */
  static List<Backend> distinct(String cluster, Collection<Backend> backends) {
    List<Backend> list = List.copyOf(backends);
    for (int i = 0; i < list.size(); i++) {
      for (int j = 0; j < i; j++) {
        Backend a = list.get(i);
        Backend b = list.get(j);
        if (a.port() == b.port() && a.host().equalsIgnoreCase(b.host())) {
          throw new IllegalArgumentException(
              "cluster " + cluster + ": backend " + a.authority() + " is listed twice");
        }
      }
    }
    return list;
  }

  ClusterState withAdded(Endpoint e, long now) {
    List<Endpoint> list = new ArrayList<>(endpoints);
    list.add(e);
    EndpointState[] next = Arrays.copyOf(states, states.length + 1);
    next[states.length] = warming(EndpointState.initial(e.backend().weight()), now);
    return build(rules, draws, list, next, now);
  }

  ClusterState without(int index, long now) {
    List<Endpoint> list = new ArrayList<>(endpoints);
    list.remove(index);
    EndpointState[] next = new EndpointState[states.length - 1];
    System.arraycopy(states, 0, next, 0, index);
    System.arraycopy(states, index + 1, next, index, next.length - index);
    return build(rules, draws, list, next, now);
  }

  ClusterState withHealth(int index, boolean healthy, long now) {
    EndpointState[] next = states.clone();
    EndpointState s = states[index].withHealthy(healthy);
    next[index] = healthy ? warming(s, now) : s;
    return build(rules, draws, new ArrayList<>(endpoints), next, now);
  }

  ClusterState withEjection(int index, long until, long now) {
    EndpointState[] next = states.clone();
    next[index] = states[index].ejectedUntil(until);
    return build(rules, draws, new ArrayList<>(endpoints), next, now);
  }

  private EndpointState warming(EndpointState s, long now) {
    return rules.slowStartNanos() > 0 ? s.warmingFrom(now) : s;
  }

  /**
   * The snapshot over {@code endpoints} and {@code states} at {@code now}. Each endpoint's own view
   * ({@link Endpoint#healthy()}, {@link Endpoint#weight()}) is set before the picker is built, so a
   * balancer sees the weights of the snapshot it builds for.
   */
  private static ClusterState build(
      Rules rules, Draws draws, List<Endpoint> endpoints, EndpointState[] states, long now) {
    boolean timed = false;
    long refreshAt = Long.MAX_VALUE;
    List<Endpoint> available = new ArrayList<>(endpoints.size());
    for (int i = 0; i < states.length; i++) {
      Endpoint e = endpoints.get(i);
      EndpointState s = states[i];
      if (s.ejected()) {
        if (now - s.ejectedUntil() >= 0) {
          e.resetFailureStreak();
          s =
              rules.slowStartNanos() > 0
                  ? s.backFromEjection().warmingFrom(now)
                  : s.backFromEjection();
          LOG.log(
              System.Logger.Level.INFO,
              () -> "meshlet cluster " + rules.name() + ": " + e + " back from ejection");
        } else {
          refreshAt = timed ? Math.min(refreshAt, s.ejectedUntil()) : s.ejectedUntil();
          timed = true;
        }
      }
      s = weighed(rules, s, e.backend().weight(), now);
      if (s.warming()) {
        long at = now + Math.max(TimeUnit.MILLISECONDS.toNanos(1), rules.slowStartNanos() / 20);
        refreshAt = timed ? Math.min(refreshAt, at) : at;
        timed = true;
      }
      states[i] = s;
      e.state(s);
      if (s.healthy() && !s.ejected()) {
        available.add(e);
      }
    }
    boolean panic = false;
    if (available.isEmpty()
        && !endpoints.isEmpty()
        && rules.noneAvailable() == Cluster.NoneAvailable.USE_ALL) {
      available = endpoints;
      panic = true;
    }
    List<Endpoint> picked = List.copyOf(available);
    Balancer.Picker picker = null;
    if (!picked.isEmpty()) {
      picker =
          rules.balancer() instanceof Balancers builtIn
              ? builtIn.picker(picked, draws)
              : rules.balancer().picker(picked);
    }
    return new ClusterState(
        rules, draws, List.copyOf(endpoints), states, picked, picker, panic, timed, refreshAt);
  }

  /**
   * {@code s} with the weight slow start gives it at {@code now}, leaving the window when it ends.
   */
  private static EndpointState weighed(Rules rules, EndpointState s, int configured, long now) {
    long window = rules.slowStartNanos();
    if (window == 0) {
      return s.withWeight(configured);
    }
    int full = configured * SLOW_START_SCALE;
    if (!s.warming()) {
      return s.withWeight(full);
    }
    long elapsed = now - s.warmingSince();
    if (elapsed >= window) {
      return s.warm().withWeight(full);
    }
    double fraction = Math.max(0.1, (double) elapsed / window); // Envoy's min weight percent: 10%
    return s.withWeight((int) Math.max(1, Math.round(full * fraction)));
  }

  @Override
  public String toString() {
    return endpoints.toString();
  }
}
