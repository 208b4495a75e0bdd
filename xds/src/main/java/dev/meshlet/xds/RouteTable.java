package dev.meshlet.xds;

import dev.meshlet.l7.HttpProxyBuilder;
import dev.meshlet.l7.HttpRouteBuilder;
import dev.meshlet.l7.Routes;
import java.util.List;
import java.util.function.Consumer;

/**
 * An RDS route configuration read into meshlet routes, in the order they are tried; its clusters
 * are resolved, so a table is rebuilt when the clusters change.
 *
 * @param name the route configuration's name
 * @param routes one meshlet route each
 */
record RouteTable(String name, List<Consumer<HttpRouteBuilder>> routes) {

  RouteTable {
    routes = List.copyOf(routes);
  }

  /** Adds the routes to a table being replaced. */
  void applyTo(Routes t) {
    for (Consumer<HttpRouteBuilder> r : routes) {
      t.route(r);
    }
  }

  /** Adds the routes to a proxy about to start; it builds them at once, so bad ones throw here. */
  void applyTo(HttpProxyBuilder b) {
    for (Consumer<HttpRouteBuilder> r : routes) {
      b.route(r);
    }
  }
}
