package dev.meshlet.junit;

import dev.meshlet.core.Journal;
import dev.meshlet.l7.HttpEvent;
import dev.meshlet.l7.HttpProxy;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.util.Objects;
import java.util.Optional;
import java.util.function.Supplier;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.ParameterContext;
import org.junit.jupiter.api.extension.ParameterResolutionException;
import org.junit.jupiter.api.extension.ParameterResolver;
import org.junit.jupiter.api.extension.TestExecutionExceptionHandler;

/**
 * Runs an {@link HttpProxy} for a test class, with its routes' {@link dev.meshlet.l7.HttpFault faults}.
 * Needs {@code meshlet-l7} on the test class path (an optional dependency of {@code meshlet-junit}).
 *
 * <pre>{@code
 * @RegisterExtension
 * static final HttpProxyExtension gateway = HttpProxyExtension.create(() -> HttpProxy.builder()
 *     .listen("127.0.0.1", 0)
 *     .route(r -> r.pathPrefix("/pay/").to(payments)
 *         .fault(HttpFault.abort(503).whenHeader("x-chaos"))));
 *
 * @Test
 * void retriesA503(@MeshletProxy int port) { ... }   // send x-chaos to get the fault
 * }</pre>
 *
 * <p>Lifecycle as for {@link TcpProxyExtension}: a static field gives one proxy for the class, an
 * instance field one per test; the journal is cleared before each test, and a failing test carries the
 * seed and the journal's last entries. Route faults are fixed when the proxy is built: choose per test
 * with {@link dev.meshlet.l7.HttpFault#whenHeader(String) header-triggered} faults.
 *
 * <p>Parameters: an {@code int} annotated {@link MeshletProxy} receives the port, a {@link HttpProxy}
 * parameter the proxy itself.
 */
public final class HttpProxyExtension
    implements BeforeAllCallback, AfterAllCallback, BeforeEachCallback, AfterEachCallback, ParameterResolver,
        TestExecutionExceptionHandler {
  private final Supplier<HttpProxy.Builder> builder;
  private final String name;
  private volatile @Nullable HttpProxy proxy;
  private volatile @Nullable String startedFor;

  private HttpProxyExtension(Supplier<HttpProxy.Builder> builder, String name) {
    this.builder = builder;
    this.name = name;
  }

  /** An extension that starts the proxy {@code builder} describes, when the tests begin. */
  public static HttpProxyExtension create(Supplier<HttpProxy.Builder> builder) {
    return new HttpProxyExtension(Objects.requireNonNull(builder, "builder"), "");
  }

  /** This extension under {@code name}, for {@link MeshletProxy#value()} when a class has several. */
  public HttpProxyExtension named(String name) {
    Objects.requireNonNull(name, "name");
    if (name.isEmpty()) {
      throw new IllegalArgumentException("name: empty (expected: a name such as \"gateway\")");
    }
    return new HttpProxyExtension(builder, name);
  }

  /**
   * The running proxy.
   *
   * @throws IllegalStateException outside the tests' lifecycle
   */
  public HttpProxy proxy() {
    HttpProxy p = proxy;
    if (p == null) {
      throw new IllegalStateException("meshlet HTTP proxy" + label()
          + " is not running: use it inside a test, or register the extension on a static field to use it in @BeforeAll");
    }
    return p;
  }

  /** The proxy's port. */
  public int port() {
    return proxy().port();
  }

  /** The proxy's base URI, e.g. {@code http://127.0.0.1:40123/}. */
  public URI uri() {
    return proxy().uri();
  }

  /** The proxy's journal, cleared before each test. */
  public Journal<HttpEvent> journal() {
    return proxy().journal();
  }

  @Override
  public void beforeAll(ExtensionContext context) {
    start(context);
  }

  @Override
  public void beforeEach(ExtensionContext context) {
    HttpProxy p = proxy;
    if (p == null) {
      start(context);
    } else {
      p.journal().clear();
    }
  }

  @Override
  public void afterEach(ExtensionContext context) {
    if (context.getUniqueId().equals(startedFor)) {
      stop();
    }
  }

  @Override
  public void afterAll(ExtensionContext context) {
    if (context.getUniqueId().equals(startedFor)) {
      stop();
    }
  }

  private void start(ExtensionContext context) {
    if (proxy != null) {
      return;
    }
    HttpProxy.Builder b = Objects.requireNonNull(builder.get(), "the builder supplier returned null");
    try {
      proxy = b.start();
    } catch (IOException e) {
      throw new UncheckedIOException("meshlet HTTP proxy" + label() + " did not start: " + e.getMessage(), e);
    }
    startedFor = context.getUniqueId();
  }

  private void stop() {
    HttpProxy p = proxy;
    proxy = null;
    startedFor = null;
    if (p != null) {
      p.close();
    }
  }

  @Override
  public boolean supportsParameter(ParameterContext parameter, ExtensionContext context) {
    Class<?> type = parameter.getParameter().getType();
    Optional<MeshletProxy> annotation = parameter.findAnnotation(MeshletProxy.class);
    if (annotation.isPresent() && !annotation.get().value().isEmpty() && !annotation.get().value().equals(name)) {
      return false;
    }
    if (type == HttpProxy.class) {
      return true;
    }
    return annotation.isPresent() && (type == int.class || type == Integer.class);
  }

  @Override
  public Object resolveParameter(ParameterContext parameter, ExtensionContext context) {
    HttpProxy p = proxy;
    if (p == null) {
      throw new ParameterResolutionException("meshlet HTTP proxy" + label() + " is not running when "
          + parameter.getDeclaringExecutable() + " needs it: register the extension on a static field for @BeforeAll");
    }
    return parameter.getParameter().getType() == HttpProxy.class ? p : (Object) p.port();
  }

  @Override
  public void handleTestExecutionException(ExtensionContext context, Throwable failure) throws Throwable {
    HttpProxy p = proxy;
    if (p != null) {
      failure.addSuppressed(new TcpProxyExtension.ProxyReport(p + ": replay with HttpProxy.builder().seed(0x"
          + Long.toHexString(p.seed()) + "L); " + p.journal().describeTail(20)));
    }
    throw failure;
  }

  private String label() {
    return name.isEmpty() ? "" : " '" + name + "'";
  }

  @Override
  public String toString() {
    HttpProxy p = proxy;
    return "HttpProxyExtension" + label() + "[" + (p == null ? "not running" : p) + "]";
  }
}
