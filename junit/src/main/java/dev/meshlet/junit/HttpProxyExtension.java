package dev.meshlet.junit;

import dev.meshlet.core.Journal;
import dev.meshlet.l7.HttpEvent;
import dev.meshlet.l7.HttpProxy;
import dev.meshlet.l7.HttpProxyBuilder;
import java.net.URI;
import java.time.Duration;
import java.util.List;
import java.util.Objects;
import java.util.function.Supplier;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.ParameterContext;
import org.junit.jupiter.api.extension.ParameterResolver;
import org.junit.jupiter.api.extension.TestExecutionExceptionHandler;

/**
 * Runs an {@link HttpProxy} for a test class, with its routes' {@link dev.meshlet.l7.HttpFault
 * faults}. Needs {@code meshlet-l7} on the test class path (an optional dependency of {@code
 * meshlet-junit}).
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
 * instance field one per test; after each test the routes the proxy was built with are {@linkplain
 * HttpProxy#resetRoutes() put back} (undoing a test's {@code replaceRoutes}, and restarting the
 * faults' schedules and draws, so each test sees the faults the first one saw), the journal is
 * cleared before each test (a request a test leaves in flight, such as one whose client gave up on
 * a long delay fault, is not journaled when it ends in a later test), and a failing test carries
 * the seed and the journal's last entries, after a wait of at most 1 s for requests in flight to
 * end (an exchange is journaled a moment after its client has the response). To choose faults per
 * test without replacing routes, use {@link dev.meshlet.l7.HttpFault#whenHeader(String)
 * header-triggered} faults.
 *
 * <p>Parameters: an {@code int} annotated {@link MeshletProxy} receives the port, a {@link
 * HttpProxy} parameter the proxy itself.
 */
public final class HttpProxyExtension
    implements BeforeAllCallback,
        AfterAllCallback,
        BeforeEachCallback,
        AfterEachCallback,
        ParameterResolver,
        TestExecutionExceptionHandler {
  /**
   * How long a failure's report waits for the test's requests in flight to end (and be journaled).
   */
  private static final Duration REPORT_WAIT = Duration.ofSeconds(1);

  private static final ProxyLifecycle.Kind<HttpProxyBuilder, HttpProxy> KIND =
      new ProxyLifecycle.Kind<>(
          "meshlet HTTP proxy",
          HttpProxy.class,
          HttpProxyBuilder::start,
          HttpProxy::port,
          HttpProxy::journal,
          HttpProxy::close,
          HttpProxyExtension::report);

  private final ProxyLifecycle<HttpProxyBuilder, HttpProxy> lifecycle;

  private HttpProxyExtension(ProxyLifecycle<HttpProxyBuilder, HttpProxy> lifecycle) {
    this.lifecycle = lifecycle;
  }

  /**
   * The seed and the journal's last entries. A client reads its response a moment before the proxy
   * journals the exchange's end, so the report first waits briefly for the requests in flight to
   * end: a test that fails right after a response reports that response's exchange too.
   */
  private static ProxyReport report(HttpProxy p) {
    ProxyLifecycle.waitQuietly(() -> p.awaitIdle(REPORT_WAIT));
    return new ProxyReport(
        p
            + ": replay with HttpProxy.builder().seed(0x"
            + Long.toHexString(p.seed())
            + "L); "
            + p.journal().describeTail(20));
  }

  /** An extension that starts the proxy {@code builder} describes, when the tests begin. */
  public static HttpProxyExtension create(Supplier<HttpProxyBuilder> builder) {
    return new HttpProxyExtension(
        new ProxyLifecycle<>(KIND, Objects.requireNonNull(builder, "builder"), ""));
  }

  /**
   * This extension under {@code name}, for {@link MeshletProxy#value()} when a class has several.
   */
  public HttpProxyExtension named(String name) {
    return new HttpProxyExtension(lifecycle.named(name, "gateway"));
  }

  /**
   * The running proxy.
   *
   * @throws IllegalStateException outside the tests' lifecycle
   */
  public HttpProxy proxy() {
    return lifecycle.proxy();
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

  /**
   * Waits until at least {@code n} requests have completed since this test began and returns them,
   * oldest first; see {@link HttpProxy#awaitRequests(int, Duration)}.
   *
   * @throws AssertionError naming the seed and the journal's last entries, on timeout
   */
  public List<HttpEvent.Completed> awaitRequests(int n, Duration timeout) {
    return proxy().awaitRequests(n, timeout);
  }

  @Override
  public void beforeAll(ExtensionContext context) {
    lifecycle.beforeAll(context);
  }

  @Override
  public void beforeEach(ExtensionContext context) {
    lifecycle.beforeEach(context);
  }

  @Override
  public void afterEach(ExtensionContext context) {
    HttpProxy p = lifecycle.afterEach(context);
    if (p != null) {
      p.resetRoutes();
    }
  }

  @Override
  public void afterAll(ExtensionContext context) {
    lifecycle.afterAll(context);
  }

  @Override
  public boolean supportsParameter(ParameterContext parameter, ExtensionContext context) {
    return lifecycle.supportsParameter(parameter);
  }

  @Override
  public Object resolveParameter(ParameterContext parameter, ExtensionContext context) {
    return lifecycle.resolveParameter(parameter);
  }

  @Override
  public void handleTestExecutionException(ExtensionContext context, Throwable failure)
      throws Throwable {
    lifecycle.handleTestExecutionException(failure);
  }

  @Override
  public String toString() {
    return lifecycle.describe("HttpProxyExtension");
  }

  /** What the proxy saw, attached to a failed test as a suppressed exception; never thrown. */
  static final class ProxyReport extends Exception {
    private static final long serialVersionUID = 1L;

    ProxyReport(String message) {
      super(message, null, false, false);
    }
  }
}
