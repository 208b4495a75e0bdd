package dev.meshlet.l7;

import dev.meshlet.core.Cluster;
import dev.meshlet.core.ClusterStats;
import dev.meshlet.core.Endpoint;
import dev.meshlet.core.internal.Seeds;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.jspecify.annotations.Nullable;

/**
 * An {@link HttpProxy}'s routing table, as requests read it once at their start: the routes in
 * order, the default route, and the fault state of the routes that have faults. A live update
 * replaces the table whole, so a request is routed by one table from start to end.
 */
final class RouteTable {
  private static final RouteFaults[] NO_FAULTS = new RouteFaults[0];

  private final HttpRoute[] routes;
  private final @Nullable HttpRoute defaultRoute;

  /** Only the routes with faults; usually none. */
  private final RouteFaults[] faults;

  /**
   * A table of {@code routes} and a default route to {@code defaultCluster} (if any), checked as
   * the builder's are, offering {@code seed} to its clusters.
   *
   * @throws IllegalArgumentException when a route is incomplete or route names repeat
   * @throws IllegalStateException when there is no route
   */
  static RouteTable of(List<HttpRoute> routes, @Nullable Cluster defaultCluster, long seed) {
    ProxySettings.checkRoutes(routes, defaultCluster);
    RouteTable table =
        new RouteTable(routes, defaultCluster == null ? null : HttpRoute.catchAll(defaultCluster));
    table.offerSeed(seed);
    return table;
  }

  RouteTable(List<HttpRoute> routes, @Nullable HttpRoute defaultRoute) {
    this.routes = routes.toArray(new HttpRoute[0]);
    this.defaultRoute = defaultRoute;
    List<RouteFaults> f = new ArrayList<>();
    for (HttpRoute r : all()) {
      if (r.hasFaults()) {
        f.add(new RouteFaults(r));
      }
    }
    this.faults = f.isEmpty() ? NO_FAULTS : f.toArray(NO_FAULTS);
  }

  /**
   * The route for {@code head}: the first whose conditions all hold, else the default route, else
   * null (the proxy answers 404). Allocates nothing; a split's cluster is drawn by {@link
   * HttpRoute#pickCluster()}.
   */
  @Nullable HttpRoute route(RequestHead head) {
    HeadView h = (HeadView) head; // the only RequestHead
    for (HttpRoute r : routes) {
      if (r.matches(h)) {
        return r;
      }
    }
    return defaultRoute;
  }

  /**
   * {@link #route} with the cluster drawn, for {@link HttpProxy#routeFor(RequestHead)}; null: no
   * route.
   */
  HttpRoute.@Nullable Match match(RequestHead head) {
    HttpRoute r = route(head);
    return r == null ? null : new HttpRoute.Match(r, r.pickCluster());
  }

  /** The fault state of {@code route} in this table, or null when the route has no faults. */
  @Nullable RouteFaults faults(HttpRoute route) {
    for (RouteFaults f : faults) {
      if (f.route == route) {
        return f;
      }
    }
    return null;
  }

  /** This table with its faults started over: schedules count from 1 again, draws replay. */
  RouteTable restarted() {
    return new RouteTable(List.of(routes), defaultRoute);
  }

  /** The routes in the order they are tried, without the default route. */
  List<HttpRoute> routes() {
    return List.of(routes);
  }

  @Nullable HttpRoute defaultRoute() {
    return defaultRoute;
  }

  /** The addresses of every backend of every cluster the table's routes send to. */
  Set<InetSocketAddress> addresses() {
    Set<InetSocketAddress> reachable = new HashSet<>();
    for (HttpRoute r : all()) {
      for (Cluster c : r.clusters()) {
        for (Endpoint e : c.endpoints()) {
          reachable.add(e.address());
        }
      }
    }
    return reachable;
  }

  /** The routes in the order they are tried, the default route (if any) last. */
  List<HttpRoute> all() {
    List<HttpRoute> all = new ArrayList<>(routes.length + 1);
    all.addAll(List.of(routes));
    if (defaultRoute != null) {
      all.add(defaultRoute);
    }
    return List.copyOf(all);
  }

  /**
   * Offers the proxy's seed to every cluster of this table, so unseeded random balancing replays
   * too.
   */
  void offerSeed(long seed) {
    for (HttpRoute r : all()) {
      for (Cluster c : r.clusters()) {
        Seeds.offer(c, seed);
      }
    }
  }

  /** The stats of every cluster this table reaches, by name, in route order. */
  Map<String, ClusterStats> clusterStats() {
    Map<String, ClusterStats> clusters = new LinkedHashMap<>();
    for (HttpRoute route : all()) {
      for (Cluster c : route.clusters()) {
        clusters.computeIfAbsent(c.name(), n -> c.stats());
      }
    }
    return clusters;
  }
}
