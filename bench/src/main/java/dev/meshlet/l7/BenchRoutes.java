package dev.meshlet.l7;

import java.util.function.Consumer;
import org.eclipse.jetty.server.Request;

/**
 * Bench-only access to package-private routing, so JMH can time exactly the loop the proxy runs per
 * request ({@code Exchange}: first route whose matchers all hold). Lives in the bench module, on
 * the class path only; nothing in {@code l7} depends on it.
 */
public final class BenchRoutes {
  private BenchRoutes() {}

  /** Builds a route as {@link HttpProxy.Builder#route(Consumer)} does. */
  public static HttpRoute build(Consumer<HttpRoute.Builder> spec, String name) {
    return HttpRoute.build(spec, name);
  }

  /** The route's cluster, as the proxy draws it per request (one, or a weighted split). */
  public static dev.meshlet.core.Cluster pickCluster(HttpRoute route) {
    return route.pickCluster();
  }

  /** Whether every condition of {@code route} holds; {@code path} is the canonical path. */
  public static boolean matches(HttpRoute route, Request request, String path) {
    return route.matches(request, path);
  }
}
