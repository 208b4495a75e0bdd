package dev.meshlet.bench;

import dev.meshlet.core.Backend;
import dev.meshlet.core.Cluster;
import dev.meshlet.core.Endpoint;
import dev.meshlet.l7.HttpProxy;
import dev.meshlet.l7.HttpRoute;
import dev.meshlet.l7.RequestHead;
import java.io.IOException;
import java.util.concurrent.TimeUnit;
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
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * L7 routing as the proxy runs it per request, through {@link HttpProxy#routeFor(RequestHead)}: the
 * proxy's live route table (the first of 10 routes whose conditions all hold: path prefixes, an
 * exact path, a host wildcard, a header, methods; the regex route is last; else the default route),
 * the route's cluster, then the balancer's pick. The head is the proxy's own view type over a
 * parsed URI and header set, made once in setup as the server parses it once per request. Run with
 * {@code -prof gc}: {@code gc.alloc.rate.norm} should be 0 B/op.
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

  private HttpProxy proxy;
  private RequestHead head;
  private long key;

  /** Starts a proxy on a free port with the routing table; no request is ever sent to it. */
  @Setup
  public void setup() throws IOException {
    Cluster a = Cluster.of("a", Backend.of("10.0.0.1", 8080), Backend.of("10.0.0.2", 8080));
    Cluster b = Cluster.of("b", Backend.of("10.0.0.3", 8080));
    proxy =
        HttpProxy.builder()
            .listen("127.0.0.1", 0)
            .route(r -> r.pathPrefix("/api/v1/").to(a))
            .route(r -> r.pathPrefix("/api/v2/").method("GET", "HEAD").to(a))
            .route(r -> r.path("/healthz").to(b))
            .route(r -> r.host("*.internal.example.com").to(b))
            .route(r -> r.header("X-Canary", "1").pathPrefix("/shop/").to(b))
            .route(r -> r.pathPrefix("/static/").to(b))
            .route(r -> r.host("admin.example.com").pathPrefix("/admin/").to(b))
            .route(r -> r.pathPrefix("/shop/").method("GET", "POST").to(a))
            .route(r -> r.headerPresent("X-Debug").to(b))
            .route(r -> r.pathRegex("/v[0-9]+/legacy/.*").to(b))
            .defaultRoute(a)
            .start();
    String target =
        switch (request) {
          case "first" -> "/api/v1/users/42?x=1";
          case "eighth" -> "/shop/cart/items";
          case "default" -> "/index.html";
          default -> throw new IllegalArgumentException(request);
        };
    head =
        RequestHead.builder("GET", target)
            .host("www.example.com")
            .header("User-Agent", "bench/1.0")
            .header("Accept", "*/*")
            .header("Accept-Encoding", "gzip")
            .header("Cookie", "session=abc123")
            .build();
    HttpRoute.Match m = proxy.routeFor(head);
    if (m == null) {
      throw new IllegalStateException("no route for " + head);
    }
  }

  /** Stops the proxy. */
  @TearDown
  public void tearDown() {
    proxy.close();
  }

  /** The proxy's per-request routing: first matching route, its cluster, a backend. */
  @Benchmark
  public @Nullable Endpoint route() {
    HttpRoute.Match m = proxy.routeFor(head);
    return m == null ? null : m.cluster().pick(key++); // setup checked that a route matches
  }
}
