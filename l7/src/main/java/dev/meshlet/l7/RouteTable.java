package dev.meshlet.l7;

import java.util.List;
import org.jspecify.annotations.Nullable;

/** The routing table requests read once, at their start; replaced whole by a live update. */
record RouteTable(List<HttpRoute> routes, @Nullable HttpRoute defaultRoute) {
  RouteTable {
    routes = List.copyOf(routes);
  }
}
