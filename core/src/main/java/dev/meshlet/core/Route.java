package dev.meshlet.core;

import java.util.Objects;
import org.jspecify.annotations.Nullable;

/**
 * Maps what a proxy sees on a connection or request to the {@link Cluster} that serves it.
 *
 * <p>At L4 a listener has one route, {@link #to(Cluster)}, because all it sees is addresses; at L7
 * routes look at the parsed request and are tried in order, first match wins. A route that does not
 * apply returns {@code null}.
 *
 * @param <T> what the route looks at: a connection's addresses at L4, a request at L7
 */
@FunctionalInterface
public interface Route<T> {

  /**
   * The cluster for {@code subject}, or {@code null} when this route does not apply to it. Called
   * once per connection or request: it must be cheap and should not allocate.
   */
  @Nullable Cluster select(T subject);

  /** A route that sends everything to {@code cluster}. */
  static <T> Route<T> to(Cluster cluster) {
    Objects.requireNonNull(cluster, "cluster");
    return subject -> cluster;
  }
}
