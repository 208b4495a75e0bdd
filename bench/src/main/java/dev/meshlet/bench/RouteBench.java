package dev.meshlet.bench;

import dev.meshlet.core.Backend;
import dev.meshlet.core.Cluster;
import dev.meshlet.core.Endpoint;
import dev.meshlet.l7.BenchRoutes;
import dev.meshlet.l7.HttpRoute;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.eclipse.jetty.http.HttpFields;
import org.eclipse.jetty.http.HttpURI;
import org.eclipse.jetty.server.Request;
import org.jspecify.annotations.Nullable;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * L7 route matching as the proxy does it per request: the canonical path from the parsed URI, the
 * first of 10 routes whose conditions all hold (path prefixes, an exact path, a host wildcard, a
 * header, methods; the regex route is last), then the cluster and the balancer pick. The request is
 * a parsed Jetty URI and header set, as the server hands them over. Run with {@code -prof gc}:
 * {@code gc.alloc.rate.norm} should be 0 B/op.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
@State(Scope.Benchmark)
public class RouteBench {

  /** Which request: the first route matches, the 8th (after 7 misses), or none (default route). */
  @Param({"first", "eighth", "default"})
  public String request;

  private HttpRoute[] routes;
  private HttpRoute fallback;
  private Request req;
  private long key;

  @Setup
  public void setup() {
    Cluster a = Cluster.of("a", Backend.of("10.0.0.1", 8080), Backend.of("10.0.0.2", 8080));
    Cluster b = Cluster.of("b", Backend.of("10.0.0.3", 8080));
    List<Consumer<HttpRoute.Builder>> specs = new ArrayList<>();
    specs.add(r -> r.pathPrefix("/api/v1/").to(a));
    specs.add(r -> r.pathPrefix("/api/v2/").method("GET", "HEAD").to(a));
    specs.add(r -> r.path("/healthz").to(b));
    specs.add(r -> r.host("*.internal.example.com").to(b));
    specs.add(r -> r.header("X-Canary", "1").pathPrefix("/shop/").to(b));
    specs.add(r -> r.pathPrefix("/static/").to(b));
    specs.add(r -> r.host("admin.example.com").pathPrefix("/admin/").to(b));
    specs.add(r -> r.pathPrefix("/shop/").method("GET", "POST").to(a));
    specs.add(r -> r.headerPresent("X-Debug").to(b));
    specs.add(r -> r.pathRegex("/v[0-9]+/legacy/.*").to(b));
    routes = new HttpRoute[specs.size()];
    for (int i = 0; i < routes.length; i++) {
      routes[i] = BenchRoutes.build(specs.get(i), "route-" + (i + 1));
    }
    fallback = BenchRoutes.build(r -> r.to(a), "default");
    String target =
        switch (request) {
          case "first" -> "/api/v1/users/42?x=1";
          case "eighth" -> "/shop/cart/items";
          case "default" -> "/index.html";
          default -> throw new IllegalArgumentException(request);
        };
    HttpURI uri = HttpURI.build("http://www.example.com" + target).asImmutable();
    HttpFields headers =
        HttpFields.build()
            .add("Host", "www.example.com")
            .add("User-Agent", "bench/1.0")
            .add("Accept", "*/*")
            .add("Accept-Encoding", "gzip")
            .add("Cookie", "session=abc123")
            .asImmutable();
    req = new FakeRequest(uri, headers, "GET");
  }

  /**
   * The proxy's per-request routing: canonical path, first matching route, its cluster, a backend.
   */
  @Benchmark
  public @Nullable Endpoint route() {
    HttpURI uri = req.getHttpURI();
    String canonical = uri.getCanonicalPath();
    if (canonical == null) {
      canonical = uri.getPath();
    }
    HttpRoute chosen = fallback;
    for (HttpRoute r : routes) {
      if (BenchRoutes.matches(r, req, canonical)) {
        chosen = r;
        break;
      }
    }
    Cluster c = BenchRoutes.pickCluster(chosen);
    return c.pick(key++);
  }

  /** The public {@link dev.meshlet.core.Route#select} of each route in turn. */
  @Benchmark
  public @Nullable Cluster select() {
    for (HttpRoute r : routes) {
      Cluster c = r.select(req);
      if (c != null) {
        return c;
      }
    }
    return fallback.select(req);
  }

  /** Just enough of a server request for the matchers: URI, headers, method. */
  static final class FakeRequest extends Request.Wrapper {
    /** The wrapped request, never reached: every method the matchers call is overridden. */
    private static final Request UNUSED =
        (Request)
            java.lang.reflect.Proxy.newProxyInstance(
                Request.class.getClassLoader(),
                new Class<?>[] {Request.class},
                (proxy, m, args) -> {
                  throw new UnsupportedOperationException("FakeRequest." + m.getName());
                });

    private final HttpURI uri;
    private final HttpFields headers;
    private final String method;

    FakeRequest(HttpURI uri, HttpFields headers, String method) {
      super(UNUSED);
      this.uri = uri;
      this.headers = headers;
      this.method = method;
    }

    @Override
    public HttpURI getHttpURI() {
      return uri;
    }

    @Override
    public HttpFields getHeaders() {
      return headers;
    }

    @Override
    public String getMethod() {
      return method;
    }
  }
}
