package dev.meshlet.xds;

import dev.meshlet.core.Backend;
import dev.meshlet.core.Cluster;
import dev.meshlet.l4.TcpProxy;
import dev.meshlet.l4.TcpProxyBuilder;
import dev.meshlet.l7.HttpProxy;
import dev.meshlet.l7.HttpProxyBuilder;
import io.envoyproxy.envoy.config.endpoint.v3.ClusterLoadAssignment;
import io.envoyproxy.envoy.config.listener.v3.Listener;
import io.envoyproxy.envoy.config.route.v3.RouteConfiguration;
import java.io.IOException;
import java.lang.System.Logger.Level;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import org.jspecify.annotations.Nullable;

/**
 * The configuration in force and the proxies and clusters that run it. Each {@code apply} reads a
 * whole response first and changes nothing if any resource in it is refused (it throws {@link
 * IllegalArgumentException} with the reason, the NACK's {@code error_detail}); then it applies it.
 * Called by one thread at a time (the stream's lock).
 */
final class XdsState {
  private static final System.Logger LOG = System.getLogger(XdsClient.class.getName());

  private record ClusterEntry(
      io.envoyproxy.envoy.config.cluster.v3.Cluster proto, ClusterSpec spec, Cluster live) {}

  /** A listener in force; its proxy is null while it waits for its routes (Envoy's warming). */
  private static final class Live {
    ListenerSpec spec;
    @Nullable HttpProxy http;
    @Nullable TcpProxy tcp;

    Live(ListenerSpec spec) {
      this.spec = spec;
    }

    void close() {
      if (http != null) {
        http.close();
      }
      if (tcp != null) {
        tcp.close();
      }
    }
  }

  private final Duration drainTimeout;
  private final Map<String, ClusterEntry> clusters = new LinkedHashMap<>();
  private final Map<String, List<Backend>> assignments = new HashMap<>();
  private final Map<String, RouteConfiguration> routeConfigs = new HashMap<>();
  private final Map<String, Live> listeners = new LinkedHashMap<>();
  private final List<Thread> drains = new ArrayList<>();
  private volatile Map<String, HttpProxy> httpProxies = Map.of();
  private volatile Map<String, TcpProxy> tcpProxies = Map.of();
  private volatile Map<String, Cluster> liveClusters = Map.of();

  XdsState(Duration drainTimeout) {
    this.drainTimeout = drainTimeout;
  }

  @Nullable HttpProxy httpProxy(String listener) {
    return httpProxies.get(listener);
  }

  @Nullable TcpProxy tcpProxy(String listener) {
    return tcpProxies.get(listener);
  }

  Map<String, HttpProxy> httpProxies() {
    return httpProxies;
  }

  Map<String, TcpProxy> tcpProxies() {
    return tcpProxies;
  }

  Map<String, Cluster> clusters() {
    return liveClusters;
  }

  /** The EDS resources the clusters in force need. */
  Set<String> edsNames() {
    Set<String> names = new LinkedHashSet<>();
    for (ClusterEntry e : clusters.values()) {
      if (e.spec().edsName() != null) {
        names.add(e.spec().edsName());
      }
    }
    return names;
  }

  /** The RDS resources the listeners in force need. */
  Set<String> rdsNames() {
    Set<String> names = new LinkedHashSet<>();
    for (Live l : listeners.values()) {
      if (l.spec instanceof ListenerSpec.Http h && h.rds() != null) {
        names.add(h.rds());
      }
    }
    return names;
  }

  private @Nullable Cluster cluster(String name) {
    ClusterEntry e = clusters.get(name);
    return e == null ? null : e.live();
  }

  void applyClusters(List<io.envoyproxy.envoy.config.cluster.v3.Cluster> resources) {
    Map<String, ClusterSpec> specs = new LinkedHashMap<>();
    for (var c : resources) {
      if (specs.put(c.getName(), ClusterDecoder.decode(c)) != null) {
        throw new IllegalArgumentException("cluster " + c.getName() + ": listed twice");
      }
    }
    Map<String, ClusterEntry> next = new LinkedHashMap<>();
    List<Cluster> built = new ArrayList<>();
    try {
      for (var c : resources) {
        ClusterEntry old = clusters.get(c.getName());
        if (old != null && old.proto().equals(c)) {
          next.put(c.getName(), old);
          continue;
        }
        ClusterSpec spec = Objects.requireNonNull(specs.get(c.getName()));
        String eds = spec.edsName();
        Cluster live =
            spec.build(eds == null ? List.of() : assignments.getOrDefault(eds, List.of()));
        built.add(live);
        next.put(c.getName(), new ClusterEntry(c, spec, live));
      }
    } catch (IllegalArgumentException e) {
      built.forEach(Cluster::close);
      throw e;
    }
    List<Cluster> retired = new ArrayList<>();
    for (ClusterEntry old : clusters.values()) {
      ClusterEntry now = next.get(old.spec().name());
      if (now == null || now.live() != old.live()) {
        retired.add(old.live());
      }
    }
    clusters.clear();
    clusters.putAll(next);
    if (!built.isEmpty() || !retired.isEmpty()) {
      refreshListeners();
    }
    // a route or TCP proxy still on a retired cluster keeps picking from its last endpoints
    retired.forEach(Cluster::close);
    publish();
  }

  void applyEndpoints(List<ClusterLoadAssignment> resources) {
    Map<String, List<Backend>> decoded = new LinkedHashMap<>();
    for (ClusterLoadAssignment a : resources) {
      String where = "cluster_load_assignment " + a.getClusterName() + ": ";
      List<Backend> backends = EndpointDecoder.backends(where, a);
      Set<String> addresses = new HashSet<>();
      for (Backend b : backends) {
        if (!addresses.add(b.authority())) {
          throw new IllegalArgumentException(where + "endpoint " + b.authority() + " listed twice");
        }
      }
      if (decoded.put(a.getClusterName(), backends) != null) {
        throw new IllegalArgumentException(where + "listed twice");
      }
    }
    assignments.putAll(decoded);
    for (ClusterEntry e : clusters.values()) {
      List<Backend> backends = e.spec().edsName() == null ? null : decoded.get(e.spec().edsName());
      if (backends != null) {
        e.live().replaceBackends(backends);
      }
    }
  }

  void applyListeners(List<Listener> resources) {
    Map<String, ListenerSpec> specs = new LinkedHashMap<>();
    Map<String, RouteTable> inline = new HashMap<>();
    for (Listener l : resources) {
      ListenerSpec s = ListenerDecoder.decode(l);
      if (specs.put(s.name(), s) != null) {
        throw new IllegalArgumentException("listener " + s.name() + ": listed twice");
      }
      if (s instanceof ListenerSpec.Http h && h.inline() != null) {
        inline.put(s.name(), decodeRoutes("listener " + s.name() + ": ", h.inline()));
      } else if (s instanceof ListenerSpec.Tcp t && cluster(t.cluster()) == null) {
        throw new IllegalArgumentException(
            "listener " + s.name() + ": tcp_proxy cluster " + t.cluster() + " does not exist");
      }
    }
    for (var it = listeners.entrySet().iterator(); it.hasNext(); ) {
      var e = it.next();
      ListenerSpec s = specs.get(e.getKey());
      if (s == null || e.getValue().spec.needsRestart(s)) {
        boolean samePort = s != null && s.port() == e.getValue().spec.port() && s.port() != 0;
        retire(e.getKey(), e.getValue(), samePort);
        it.remove();
      }
    }
    List<String> failed = new ArrayList<>();
    for (ListenerSpec s : specs.values()) {
      Live live = listeners.computeIfAbsent(s.name(), n -> new Live(s));
      boolean changed = !live.spec.equals(s) || (live.http == null && live.tcp == null);
      live.spec = s;
      if (!changed) {
        continue;
      }
      try {
        if (s instanceof ListenerSpec.Http h) {
          RouteTable t = inline.get(s.name());
          if (t == null && h.rds() != null && routeConfigs.containsKey(h.rds())) {
            t = tableOrNull(live, routeConfigs.get(h.rds()));
          }
          if (t != null) {
            run(live, t);
          }
        } else if (s instanceof ListenerSpec.Tcp t) {
          runTcp(live, t);
        }
      } catch (IOException e) {
        listeners.remove(s.name());
        failed.add(
            "listener "
                + s.name()
                + ": listen "
                + s.host()
                + ":"
                + s.port()
                + ": "
                + e.getMessage());
      }
    }
    publish();
    if (!failed.isEmpty()) {
      throw new IllegalArgumentException(String.join("; ", failed));
    }
  }

  void applyRoutes(List<RouteConfiguration> resources) {
    Map<String, RouteTable> tables = new LinkedHashMap<>();
    for (RouteConfiguration rc : resources) {
      if (tables.put(rc.getName(), decodeRoutes("", rc)) != null) {
        throw new IllegalArgumentException(
            "route_configuration " + rc.getName() + ": listed twice");
      }
    }
    for (RouteConfiguration rc : resources) {
      routeConfigs.put(rc.getName(), rc);
    }
    List<String> failed = new ArrayList<>();
    for (Live live : listeners.values()) {
      if (live.spec instanceof ListenerSpec.Http h
          && h.rds() != null
          && tables.containsKey(h.rds())) {
        try {
          run(live, tables.get(h.rds()));
        } catch (IOException e) {
          failed.add(
              "listener "
                  + h.name()
                  + ": listen "
                  + h.host()
                  + ":"
                  + h.port()
                  + ": "
                  + e.getMessage());
        }
      }
    }
    publish();
    if (!failed.isEmpty()) {
      throw new IllegalArgumentException(String.join("; ", failed));
    }
  }

  private RouteTable decodeRoutes(String where, RouteConfiguration rc) {
    try {
      return RouteDecoder.decode(rc, this::cluster);
    } catch (IllegalArgumentException e) {
      throw where.isEmpty() ? e : new IllegalArgumentException(where + e.getMessage(), e);
    }
  }

  private @Nullable RouteTable tableOrNull(Live live, RouteConfiguration rc) {
    try {
      return RouteDecoder.decode(rc, this::cluster);
    } catch (IllegalArgumentException e) {
      LOG.log(
          Level.WARNING, "listener " + live.spec.name() + " keeps its routes: " + e.getMessage());
      return null;
    }
  }

  /** Starts the listener's HTTP proxy on {@code table}, or swaps its routes if it runs. */
  private void run(Live live, RouteTable table) throws IOException {
    if (live.http != null) {
      live.http.replaceRoutes(table::applyTo);
      return;
    }
    HttpProxyBuilder b =
        HttpProxy.builder().listen(live.spec.host(), live.spec.port()).drainTimeout(drainTimeout);
    table.applyTo(b);
    live.http = b.start();
    LOG.log(Level.INFO, "listener " + live.spec.name() + " serves HTTP on " + live.http.address());
  }

  private void runTcp(Live live, ListenerSpec.Tcp t) throws IOException {
    Cluster c = cluster(t.cluster());
    if (c == null) {
      return; // checked before: only a cluster retired since leaves the proxy where it is
    }
    if (live.tcp != null) {
      if (live.tcp.cluster() != c) {
        live.tcp.replaceCluster(c);
      }
      return;
    }
    TcpProxyBuilder b =
        TcpProxy.builder().listen(t.host(), t.port()).cluster(c).drainTimeout(drainTimeout);
    if (t.idleTimeout() != null) {
      b.idleTimeout(t.idleTimeout());
    }
    live.tcp = b.start();
    LOG.log(Level.INFO, "listener " + t.name() + " serves TCP on " + live.tcp.address());
  }

  /** After the clusters changed: every route and TCP proxy onto the clusters now in force. */
  private void refreshListeners() {
    for (Live live : listeners.values()) {
      try {
        if (live.spec instanceof ListenerSpec.Http h) {
          RouteConfiguration rc = h.inline() != null ? h.inline() : routeConfigs.get(h.rds());
          RouteTable t = rc == null ? null : tableOrNull(live, rc);
          if (t != null) {
            run(live, t);
          }
        } else if (live.spec instanceof ListenerSpec.Tcp t) {
          runTcp(live, t);
        }
      } catch (IOException e) {
        LOG.log(Level.WARNING, "listener " + live.spec.name() + ": " + e.getMessage());
      }
    }
  }

  /**
   * Closes a listener's proxy, draining its requests in flight: in the background, unless the
   * listener's port is wanted again at once.
   */
  private void retire(String name, Live live, boolean now) {
    LOG.log(Level.INFO, "listener " + name + " removed: draining");
    drains.removeIf(t -> !t.isAlive());
    if (now) {
      live.close();
    } else {
      drains.add(Thread.ofVirtual().name("meshlet-xds-drain-" + name).start(live::close));
    }
  }

  private void publish() {
    Map<String, HttpProxy> h = new HashMap<>();
    Map<String, TcpProxy> t = new HashMap<>();
    for (var e : listeners.entrySet()) {
      if (e.getValue().http != null) {
        h.put(e.getKey(), e.getValue().http);
      }
      if (e.getValue().tcp != null) {
        t.put(e.getKey(), e.getValue().tcp);
      }
    }
    Map<String, Cluster> c = new LinkedHashMap<>();
    clusters.forEach((k, v) -> c.put(k, v.live()));
    httpProxies = Map.copyOf(h);
    tcpProxies = Map.copyOf(t);
    liveClusters = Map.copyOf(c);
  }

  /** Closes every proxy (draining), waits for the drains, then closes the clusters. */
  void close() throws InterruptedException {
    for (var e : listeners.entrySet()) {
      retire(e.getKey(), e.getValue(), false);
    }
    listeners.clear();
    for (Thread t : drains) {
      t.join();
    }
    drains.clear();
    clusters.values().forEach(e -> e.live().close());
    clusters.clear();
    publish();
  }
}
