package dev.meshlet.l7;

import dev.meshlet.core.Cluster;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.function.Consumer;
import org.jspecify.annotations.Nullable;

/**
 * A new routing table for {@link HttpProxy#replaceRoutes(Consumer)}, built as the builder's routes
 * are: routes in order (the first whose conditions all hold wins), then a default route.
 */
public final class Routes {
  final List<HttpRoute> routes = new ArrayList<>();
  @Nullable Cluster defaultCluster;

  Routes() {}

  /**
   * Adds a route; routes are tried in the order added, the first whose conditions all hold wins.
   */
  public Routes route(Consumer<HttpRouteBuilder> spec) {
    Objects.requireNonNull(spec, "spec");
    routes.add(HttpRoute.build(spec, "route-" + (routes.size() + 1)));
    return this;
  }

  /** Where requests no route matched go (route name {@code default}); without it they get 404. */
  public Routes defaultRoute(Cluster cluster) {
    this.defaultCluster = Objects.requireNonNull(cluster, "cluster");
    return this;
  }
}
