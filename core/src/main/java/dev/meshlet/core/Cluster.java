package dev.meshlet.core;

import dev.meshlet.core.internal.Access;
import dev.meshlet.core.internal.Gate;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.atomic.LongAdder;
import java.util.concurrent.locks.ReentrantLock;
import org.jspecify.annotations.Nullable;

/**
 * A named pool of backends with its balancer, its health policy and live per-endpoint counters.
 *
 * <p>Backends can be {@linkplain #add added} and {@linkplain #remove removed} while traffic flows:
 * the next pick sees the change, and connections or requests already in flight to a removed backend
 * run to their end undisturbed. A cluster may be shared by several proxies, L4 and L7 alike.
 *
 * <p>The balancer picks only among <em>available</em> endpoints: in service, passing their
 * {@linkplain HealthCheck health checks}, and not ejected by {@linkplain OutlierDetection outlier
 * detection}. When none is available, the cluster either uses them all (Envoy's panic mode, the
 * default) or refuses, as {@link Builder#whenNoneAvailable(NoneAvailable)} says. An endpoint that
 * joins or recovers can {@linkplain Builder#slowStart(Duration) ramp its weight up} over a window.
 *
 * <p>Endpoints, their health, ejection and weights, and the picker built over them are one
 * immutable snapshot, replaced whole at each change: {@link #stats()}, {@link #available()} and the
 * picks always agree on which endpoints are available.
 *
 * <pre>{@code
 * try (Cluster web = Cluster.builder("web")
 *         .backends(Backend.of("127.0.0.1", 8081), Backend.of("127.0.0.1", 8082))
 *         .balancer(Balancer.leastConnections())
 *         .healthCheck(HealthCheck.tcp().withInterval(Duration.ofSeconds(2)))
 *         .outlierDetection(OutlierDetection.consecutiveFailures(5))
 *         .build()) {
 *     web.add(Backend.of("127.0.0.1", 8083));
 * }
 * }</pre>
 *
 * <p>A cluster with health checks runs one virtual thread for them; {@link #close()} stops it. A
 * cluster without health checks holds no thread and needs no closing.
 */
public final class Cluster implements AutoCloseable {
  private static final System.Logger LOG = System.getLogger(Cluster.class.getName());

  static {
    Access.setClusterAccess(new Limits());
  }

  /** What a cluster does when no endpoint is available (all unhealthy or ejected). */
  public enum NoneAvailable {
    /** Pick among all endpoints in service anyway, as Envoy's panic mode does. */
    USE_ALL,
    /** Pick nothing: an L4 proxy closes the connection, an L7 proxy answers 503. */
    REFUSE
  }

  private final String name;
  private final Balancer balancer;
  private final Ticker ticker;
  private final @Nullable OutlierDetection outlier;
  private final Gate active;
  private final Gate pending;
  private final Gate retries;
  private final LongAdder ejections = new LongAdder();
  private final ReentrantLock updates = new ReentrantLock();
  private final @Nullable HealthChecker health;
  private final @Nullable ClientTls tls;
  private final @Nullable Discovery discovery;

  /** The one snapshot stats and picks read; replaced whole, under the updates lock. */
  private volatile ClusterState state;

  private Cluster(Builder b) {
    this.name = b.name;
    this.balancer = b.balancer;
    this.ticker = b.ticker;
    this.outlier = b.outlier;
    this.tls = b.tls;
    this.active =
        new Gate(
            "meshlet cluster "
                + name
                + ": maxActive ("
                + b.maxActive
                + ") reached; excess connections/requests are refused and counted in stats().overflows",
            b.maxActive);
    this.pending =
        new Gate(
            "meshlet cluster "
                + name
                + ": maxPending ("
                + b.maxPending
                + ") reached; excess connections/requests are refused and counted in stats().pendingOverflows",
            b.maxPending);
    this.retries =
        new Gate(
            "meshlet cluster "
                + name
                + ": retry budget spent; further retries are refused until retries in flight end",
            Integer.MAX_VALUE);
    List<Endpoint> endpoints = new ArrayList<>(b.backends.size());
    for (Backend backend : b.backends) {
      endpoints.add(new Endpoint(this, backend));
    }
    ClusterState.Rules rules =
        new ClusterState.Rules(name, balancer, b.slowStart.toNanos(), b.noneAvailable);
    Draws draws = b.seeded ? Draws.seeded(b.seed) : Draws.UNSEEDED;
    updates.lock();
    try {
      this.state = ClusterState.initial(rules, draws, endpoints, ticker.nanoTime());
    } finally {
      updates.unlock();
    }
    this.health = b.healthCheck == null ? null : new HealthChecker(this, b.healthCheck);
    this.discovery = b.discovery;
    if (discovery != null) {
      discovery.start(new DiscoverySink(this));
    }
  }

  /** Starts a cluster with the given name (used in stats and logs). */
  public static Builder builder(String name) {
    return new Builder(name);
  }

  /** A round-robin cluster named {@code name} over {@code backends}. */
  public static Cluster of(String name, Backend... backends) {
    return builder(name).backends(backends).build();
  }

  /** The cluster's name. */
  public String name() {
    return name;
  }

  /** The balancer that picks among the endpoints. */
  public Balancer balancer() {
    return balancer;
  }

  /**
   * TLS to this cluster's backends, or null for plain connections (the default). It is transport
   * configuration: an L7 proxy sends its requests over it, an L4 proxy wraps its connections in it.
   */
  public @Nullable ClientTls tls() {
    return tls;
  }

  /** The endpoints in service now (healthy or not), in the order they were added. */
  public List<Endpoint> endpoints() {
    return state.endpoints();
  }

  /** The endpoints the balancer picks from now. */
  public List<Endpoint> available() {
    return current().available();
  }

  /**
   * A snapshot of the cluster's state and counters. Health, ejection, weights and the available
   * endpoints come from the same snapshot the balancer picks from: an endpoint these stats call
   * unhealthy or ejected is not picked until a later snapshot says otherwise.
   */
  public ClusterStats stats() {
    ClusterState s = current();
    return new ClusterStats(
        s.endpoints().size(),
        s.panic() ? 0 : s.available().size(),
        s.panic(),
        active.inside(),
        active.refused(),
        pending.inside(),
        pending.refused(),
        retries.inside(),
        retries.refused(),
        ejections.sum(),
        s.endpointStats());
  }

  private ClusterState current() {
    ClusterState s = state;
    if (s.due(ticker) && updates.tryLock()) {
      try {
        s = state.refreshed(ticker.nanoTime());
        state = s;
      } finally {
        updates.unlock();
      }
    }
    return s;
  }

  /**
   * Picks an endpoint for a new connection or request.
   *
   * @param key a hash identifying the client or request, read by {@link Balancer#consistentHash()}
   * @return the endpoint, or {@code null} when the cluster has none to offer
   */
  public @Nullable Endpoint pick(long key) {
    Balancer.Picker picker = current().picker();
    return picker == null ? null : picker.pick(key, 0);
  }

  /**
   * Picks an endpoint for a retry, preferring one other than {@code previous} when there is a
   * choice.
   *
   * @param attempt 1 for the first retry, 2 for the second, …
   */
  public @Nullable Endpoint pick(long key, int attempt, @Nullable Endpoint previous) {
    ClusterState s = current();
    Balancer.Picker picker = s.picker();
    if (picker == null) {
      return null;
    }
    Endpoint e = picker.pick(key, attempt);
    if (previous == null || s.available().size() < 2) {
      return e;
    }
    if (e == previous) {
      e = picker.pick(key, attempt + 1);
    }
    if (e == previous) { // random balancers can repeat themselves: take the next one in order
      List<Endpoint> available = s.available();
      e = available.get((available.indexOf(previous) + 1) % available.size());
    }
    return e;
  }

  /**
   * Adds a backend; the next pick may choose it (ramping up if the cluster has slow start).
   *
   * @throws IllegalArgumentException if a backend with the same host and port is already in service
   */
  public Endpoint add(Backend backend) {
    Objects.requireNonNull(backend, "backend");
    updates.lock();
    try {
      for (Endpoint e : state.endpoints()) {
        if (sameAddress(e.backend(), backend)) {
          throw new IllegalArgumentException(
              "cluster " + name + ": backend " + backend.authority() + " is already in service");
        }
      }
      Endpoint added = new Endpoint(this, backend);
      state = state.withAdded(added, ticker.nanoTime());
      return added;
    } finally {
      updates.unlock();
    }
  }

  /**
   * Takes the backend with the same host and port out of service: it gets no new traffic, and what
   * is in flight to it runs on.
   *
   * @return whether such a backend was in service
   */
  public boolean remove(Backend backend) {
    Objects.requireNonNull(backend, "backend");
    updates.lock();
    try {
      List<Endpoint> endpoints = state.endpoints();
      for (int i = 0; i < endpoints.size(); i++) {
        Endpoint e = endpoints.get(i);
        if (sameAddress(e.backend(), backend)) {
          e.retire();
          state = state.without(i, ticker.nanoTime());
          return true;
        }
      }
      return false;
    } finally {
      updates.unlock();
    }
  }

  /**
   * Replaces the backends in service with {@code backends} in one change, as a discovery does:
   * backends in both sets (same host, port, name and weight) keep their endpoint and its state, the
   * others leave or join as {@link #remove} and {@link #add} would.
   *
   * @return whether anything changed
   * @throws IllegalArgumentException when two of {@code backends} share a host and port
   */
  public boolean replaceBackends(Collection<Backend> backends) {
    List<Backend> wanted = ClusterState.distinct(name, backends);
    updates.lock();
    try {
      ClusterState s = state.replaced(wanted, b -> new Endpoint(this, b), ticker.nanoTime());
      boolean changed = s != state;
      state = s;
      return changed;
    } finally {
      updates.unlock();
    }
  }

  /**
   * Stops the health checks and the discovery, if any. Picks keep working on the last known state.
   * Idempotent.
   */
  @Override
  public void close() {
    if (health != null) {
      health.close();
    }
    if (discovery != null) {
      discovery.close();
    }
  }

  // --- state changes; each publishes one new snapshot under the updates lock ---

  /** Called by {@link Endpoint#failed()} with the endpoint's current failure streak. */
  void failureStreak(Endpoint e, int streak) {
    OutlierDetection od = outlier;
    if (od == null || streak < od.consecutiveFailures() || e.ejected() || !e.inService()) {
      return;
    }
    updates.lock();
    try {
      ClusterState s = state;
      int i = s.indexOf(e);
      if (i < 0 || s.state(i).ejected()) {
        return;
      }
      int allowed = Math.max(1, s.endpoints().size() * od.maxEjectionPercent() / 100);
      if (s.ejectedCount() >= allowed) {
        return;
      }
      long base = od.baseEjectionTime().toNanos();
      long length = Math.min(od.maxEjectionTime().toNanos(), base * (s.state(i).ejections() + 1));
      long now = ticker.nanoTime();
      ejections.increment();
      LOG.log(
          System.Logger.Level.INFO,
          () ->
              "meshlet cluster "
                  + name
                  + ": ejected "
                  + e
                  + " for "
                  + Duration.ofNanos(length)
                  + " after "
                  + streak
                  + " consecutive failures");
      state = s.withEjection(i, now + length, now);
    } finally {
      updates.unlock();
    }
  }

  /** Called by the {@link HealthChecker} when a run of probe results crosses a threshold. */
  void setHealthy(Endpoint e, boolean healthy) {
    updates.lock();
    try {
      ClusterState s = state;
      int i = s.indexOf(e);
      if (i < 0 || s.state(i).healthy() == healthy) {
        return;
      }
      LOG.log(
          System.Logger.Level.INFO,
          () -> "meshlet cluster " + name + ": " + e + (healthy ? " healthy" : " unhealthy"));
      state = s.withHealth(i, healthy, ticker.nanoTime());
      e.healthChanged();
    } finally {
      updates.unlock();
    }
  }

  /** Adopts {@code seed} for the balancers' random choices unless the cluster has a seed. */
  private boolean offerSeed(long seed) {
    updates.lock();
    try {
      if (state.draws().isSeeded()) {
        return false;
      }
      state = state.withDraws(Draws.seeded(seed), ticker.nanoTime());
      return true;
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

  /** How {@code dev.meshlet.core.internal} reaches a cluster's limits and seed. */
  private static final class Limits implements Access.ClusterAccess {
    @Override
    public Gate active(Cluster c) {
      return c.active;
    }

    @Override
    public Gate pending(Cluster c) {
      return c.pending;
    }

    @Override
    public Gate retries(Cluster c) {
      return c.retries;
    }

    @Override
    public boolean offerSeed(Cluster c, long seed) {
      return c.offerSeed(seed);
    }
  }

  /** Collects a cluster's settings; {@link #build()} validates them. */
  public static final class Builder {
    private final String name;
    private final List<Backend> backends = new ArrayList<>();
    private Balancer balancer = Balancer.roundRobin();
    private Ticker ticker = Ticker.system();
    private @Nullable HealthCheck healthCheck;
    private @Nullable OutlierDetection outlier;
    private @Nullable ClientTls tls;
    private @Nullable Discovery discovery;
    private Duration slowStart = Duration.ZERO;
    private NoneAvailable noneAvailable = NoneAvailable.USE_ALL;
    private int maxActive = Integer.MAX_VALUE;
    private int maxPending = Integer.MAX_VALUE;
    private boolean seeded;
    private long seed;

    private Builder(String name) {
      Objects.requireNonNull(name, "name");
      if (name.isBlank()) {
        throw new IllegalArgumentException(
            "cluster name: blank (expected: a name such as \"api\")");
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

    /** Active health checks; none by default. */
    public Builder healthCheck(HealthCheck healthCheck) {
      this.healthCheck = Objects.requireNonNull(healthCheck, "healthCheck");
      return this;
    }

    /**
     * Speaks TLS to this cluster's backends, as {@code tls} says; plain by default. The SNI name
     * and the name verified are each backend's host unless {@link ClientTls#serverName()} is set.
     */
    public Builder tls(ClientTls tls) {
      this.tls = Objects.requireNonNull(tls, "tls");
      return this;
    }

    /**
     * Where the backends come from besides those listed: the cluster starts {@code discovery} when
     * built (it may wait for its first answer) and closes it with the cluster; each set it finds
     * replaces the backends in service ({@link Cluster#replaceBackends}).
     */
    public Builder discovery(Discovery discovery) {
      this.discovery = Objects.requireNonNull(discovery, "discovery");
      return this;
    }

    /** Passive outlier ejection; none by default. */
    public Builder outlierDetection(OutlierDetection outlierDetection) {
      this.outlier = Objects.requireNonNull(outlierDetection, "outlierDetection");
      return this;
    }

    /**
     * Ramps the weight of an endpoint that was added at runtime, became healthy again or came back
     * from ejection, from 10% to 100% over {@code window}; zero (the default) disables. It acts
     * through weights, so it shapes {@link Balancer#weightedRoundRobin()}, {@link
     * Balancer#random()} and {@link Balancer#leastConnections()}; {@link Balancer#roundRobin()}
     * ignores weights.
     */
    public Builder slowStart(Duration window) {
      Objects.requireNonNull(window, "window");
      if (window.isNegative()) {
        throw new IllegalArgumentException("slowStart: " + window + " (expected: >= 0)");
      }
      this.slowStart = window;
      return this;
    }

    /** What to do when no endpoint is available; default {@link NoneAvailable#USE_ALL}. */
    public Builder whenNoneAvailable(NoneAvailable policy) {
      this.noneAvailable = Objects.requireNonNull(policy, "policy");
      return this;
    }

    /**
     * The circuit breaker: the most connections (L4) or requests (L7) in flight to this cluster at
     * once; more are refused at once and counted. Unlimited by default.
     */
    public Builder maxActive(int max) {
      if (max < 1) {
        throw new IllegalArgumentException("maxActive: " + max + " (expected: >= 1)");
      }
      this.maxActive = max;
      return this;
    }

    /**
     * The pending circuit breaker: the most requests (L7) waiting at once for a connection to one
     * of this cluster's backends, or connections (L4) waiting for their backend connection to be
     * established; more are refused at once (L7: 503) and counted. Unlimited by default.
     */
    public Builder maxPending(int max) {
      if (max < 1) {
        throw new IllegalArgumentException("maxPending: " + max + " (expected: >= 1)");
      }
      this.maxPending = max;
      return this;
    }

    /**
     * Makes the balancers' random choices ({@link Balancer#random()}, the two choices of {@link
     * Balancer#leastConnections()}) replayable: the same seed and the same sequence of picks from
     * one thread give the same endpoints. Unseeded (the default), they draw from {@code
     * ThreadLocalRandom}, unless a proxy hands the cluster its own seed.
     */
    public Builder seed(long seed) {
      this.seeded = true;
      this.seed = seed;
      return this;
    }

    /**
     * The clock for ejection and slow-start windows; default {@link Ticker#system()}. For tests.
     */
    public Builder ticker(Ticker ticker) {
      this.ticker = Objects.requireNonNull(ticker, "ticker");
      return this;
    }

    /**
     * Builds the cluster (and starts its health checks, if any). It may be empty: backends can be
     * added later; picks return null until then.
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
      return new Cluster(this);
    }
  }
}
