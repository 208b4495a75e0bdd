package dev.meshlet.admin;

import dev.meshlet.core.Cluster;
import dev.meshlet.core.ClusterStats;
import dev.meshlet.core.Endpoint;
import dev.meshlet.core.EndpointStats;
import dev.meshlet.l4.TcpProxy;
import dev.meshlet.l7.HttpFault;
import dev.meshlet.l7.HttpProxy;
import dev.meshlet.l7.HttpRoute;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** The JSON documents of {@code /clusters} and {@code /config}, as maps and lists. */
final class Views {
  private Views() {}

  /** {@code /clusters}: per listener, each cluster's state and each backend's. */
  static Map<String, Object> clusters(List<Registered> proxies) {
    List<Object> listeners = new ArrayList<>();
    for (Registered r : proxies) {
      Map<String, Object> l = new LinkedHashMap<>();
      l.put("name", r.name());
      List<Object> clusters = new ArrayList<>();
      switch (r) {
        case Registered.Http h ->
            h.proxy().stats().clusters().forEach((name, c) -> clusters.add(cluster(name, c)));
        case Registered.Tcp t ->
            clusters.add(cluster(t.proxy().cluster().name(), t.proxy().stats().cluster()));
      }
      l.put("clusters", clusters);
      listeners.add(l);
    }
    return Map.of("listeners", listeners);
  }

  private static Map<String, Object> cluster(String name, ClusterStats c) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("name", name);
    m.put("endpoints", c.endpoints());
    m.put("available", c.available());
    m.put("panic", c.panic());
    m.put("active", c.active());
    m.put("overflows", c.overflows());
    m.put("pending", c.pending());
    m.put("pendingOverflows", c.pendingOverflows());
    m.put("retriesActive", c.retriesActive());
    m.put("retryOverflows", c.retryOverflows());
    m.put("ejections", c.ejections());
    List<Object> backends = new ArrayList<>();
    c.backends()
        .forEach(
            (backend, e) -> {
              Map<String, Object> b = new LinkedHashMap<>();
              b.put("name", backend);
              backend(b, e);
              backends.add(b);
            });
    m.put("backends", backends);
    return m;
  }

  private static void backend(Map<String, Object> b, EndpointStats e) {
    b.put("healthy", e.healthy());
    b.put("ejected", e.ejected());
    b.put("ejections", e.ejections());
    b.put("healthTransitions", e.healthTransitions());
    b.put("weight", e.weight());
    b.put("inService", e.inService());
    b.put("active", e.active());
    b.put("total", e.total());
    b.put("failures", e.failures());
    b.put("bytesIn", e.bytesIn());
    b.put("bytesOut", e.bytesOut());
  }

  /**
   * {@code /config}: listeners with their routes or cluster, toxics and faults in force, then the
   * extra sections under their names.
   */
  static Map<String, Object> config(
      List<Registered> proxies, boolean draining, Map<String, Object> sections) {
    List<Object> listeners = new ArrayList<>();
    for (Registered r : proxies) {
      listeners.add(
          switch (r) {
            case Registered.Http h -> http(h.name(), h.proxy());
            case Registered.Tcp t -> tcp(t.name(), t.proxy());
          });
    }
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("draining", draining);
    m.put("listeners", listeners);
    m.putAll(sections);
    return m;
  }

  private static Map<String, Object> http(String name, HttpProxy p) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("name", name);
    m.put("type", "http");
    m.put("address", p.address().getHostString() + ":" + p.port());
    m.put("seed", "0x" + Long.toHexString(p.seed()) + "L");
    List<Object> routes = new ArrayList<>();
    for (HttpRoute route : p.routes()) {
      Map<String, Object> r = new LinkedHashMap<>();
      r.put("name", route.name());
      List<Object> clusters = new ArrayList<>();
      for (Cluster c : route.clusters()) {
        clusters.add(clusterConfig(c));
      }
      r.put("clusters", clusters);
      List<Object> faults = new ArrayList<>();
      for (HttpFault f : route.faults()) {
        faults.add(f.toString());
      }
      r.put("faults", faults);
      routes.add(r);
    }
    m.put("routes", routes);
    return m;
  }

  private static Map<String, Object> tcp(String name, TcpProxy p) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("name", name);
    m.put("type", "tcp");
    m.put("address", p.address().getHostString() + ":" + p.port());
    m.put("enabled", p.isEnabled());
    m.put("seed", "0x" + Long.toHexString(p.seed()) + "L");
    m.put("cluster", clusterConfig(p.cluster()));
    List<Object> toxics = new ArrayList<>();
    p.toxics()
        .list()
        .forEach(
            (n, t) -> {
              Map<String, Object> j = ToxicCodec.toJson(n, t);
              j.put("schedule", t.schedule().toString());
              toxics.add(j);
            });
    m.put("toxics", toxics);
    return m;
  }

  private static Map<String, Object> clusterConfig(Cluster c) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("name", c.name());
    m.put("balancer", c.balancer().toString());
    List<Object> backends = new ArrayList<>();
    for (Endpoint e : c.endpoints()) {
      Map<String, Object> b = new LinkedHashMap<>();
      b.put("name", e.backend().displayName());
      b.put("address", e.backend().authority());
      b.put("weight", e.backend().weight());
      backends.add(b);
    }
    m.put("backends", backends);
    return m;
  }
}
