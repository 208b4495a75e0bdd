package dev.meshlet.junit;

import dev.meshlet.core.Backend;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;
import org.jspecify.annotations.Nullable;

/**
 * A group of named test backends started together on ephemeral ports, closed together. Put one in a
 * field with JUnit's {@code @AutoClose} and hand {@link #backends()} to a proxy builder:
 *
 * <pre>{@code
 * @AutoClose static TestBackends<HttpTestBackend> web = TestBackends.http(3); // backend-1..3
 *
 * @Test
 * void spreads() throws IOException {
 *   try (HttpProxy proxy = HttpProxy.builder().listen("127.0.0.1", 0)
 *       .defaultRoute(Cluster.builder("web").backends(web.backends()).build()).start()) {
 *     // GET proxy.uri() three times: X-Backend is backend-1, backend-2, backend-3
 *   }
 * }
 * }</pre>
 *
 * @param <B> {@link HttpTestBackend} or {@link TcpTestBackend}
 */
public final class TestBackends<B extends AutoCloseable> implements AutoCloseable {
  private final List<B> started;
  private final List<Backend> backends;

  private TestBackends(List<B> started, List<Backend> backends) {
    this.started = List.copyOf(started);
    this.backends = List.copyOf(backends);
  }

  /** Starts {@code n} HTTP backends named {@code backend-1} to {@code backend-N}. */
  public static TestBackends<HttpTestBackend> http(int n) {
    return start(n, HttpTestBackend::start, HttpTestBackend::backend);
  }

  /** Starts {@code n} TCP echo backends named {@code backend-1} to {@code backend-N}. */
  public static TestBackends<TcpTestBackend> tcpEcho(int n) {
    return start(n, TcpTestBackend::start, TcpTestBackend::backend);
  }

  private static <B extends AutoCloseable> TestBackends<B> start(
      int n, Function<String, B> starter, Function<B, Backend> asBackend) {
    if (n < 1) {
      throw new IllegalArgumentException("n: " + n + " (expected: >= 1)");
    }
    List<B> started = new ArrayList<>(n);
    List<Backend> backends = new ArrayList<>(n);
    try {
      for (int i = 1; i <= n; i++) {
        B b = starter.apply("backend-" + i);
        started.add(b);
        backends.add(asBackend.apply(b));
      }
    } catch (RuntimeException e) {
      closeAll(started, e);
      throw e;
    }
    return new TestBackends<>(started, backends);
  }

  /** The backend started {@code i}-th, from 0: {@code get(0)} is {@code backend-1}. */
  public B get(int i) {
    return started.get(i);
  }

  /** The backends started, in order. */
  public List<B> all() {
    return started;
  }

  /** The backends as {@link Backend}s named after them, in order, for a cluster or builder. */
  public List<Backend> backends() {
    return backends;
  }

  /** Closes every backend; idempotent. */
  @Override
  public void close() {
    RuntimeException first = closeAll(started, null);
    if (first != null) {
      throw first;
    }
  }

  private static <B extends AutoCloseable> @Nullable RuntimeException closeAll(
      List<B> started, @Nullable RuntimeException first) {
    @Nullable RuntimeException failure = first;
    for (B b : started) {
      try {
        b.close();
      } catch (Exception e) {
        RuntimeException r = e instanceof RuntimeException x ? x : new IllegalStateException(e);
        if (failure == null) {
          failure = r;
        } else if (failure != r) {
          failure.addSuppressed(r);
        }
      }
    }
    return failure;
  }
}
