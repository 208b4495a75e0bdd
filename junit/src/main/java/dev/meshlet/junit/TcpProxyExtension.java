package dev.meshlet.junit;

import dev.meshlet.core.Journal;
import dev.meshlet.l4.TcpEvent;
import dev.meshlet.l4.TcpProxy;
import dev.meshlet.l4.TcpProxyBuilder;
import dev.meshlet.l4.Toxics;
import java.time.Duration;
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
 * Runs a {@link TcpProxy} for a test class: a Toxiproxy that needs no Docker.
 *
 * <pre>{@code
 * class PaymentClientTest {
 *   static final EchoServer payments = EchoServer.start();           // your backend
 *
 *   @RegisterExtension
 *   static final TcpProxyExtension proxy = TcpProxyExtension.create(() -> TcpProxy.builder()
 *       .listen("127.0.0.1", 0)
 *       .backends(Backend.of("127.0.0.1", payments.port())));
 *
 *   @Test
 *   void timesOutWhenPaymentsHang(@MeshletProxy int port) {
 *     proxy.toxics().add("hang", Toxic.timeout(Duration.ZERO));
 *     // point the client at 127.0.0.1:port and assert it gives up in time
 *   }
 * }
 * }</pre>
 *
 * <p>Lifecycle: on a {@code static} field the proxy starts before the first test and closes after
 * the last; after each test its toxics are {@linkplain Toxics#reset() reset} to those the builder
 * declared (what the test added is removed, schedules and draws start over), it is {@linkplain
 * TcpProxy#enable() enabled} again and its journal is cleared before the next one. On an instance
 * field each test gets a fresh proxy. When a test fails, the failure carries the proxy's seed (to
 * replay the run with {@link TcpProxyBuilder#seed(long)}) and the journal's last entries as a
 * suppressed exception, after a wait of at most 250 ms for open connections to end. A connection's
 * {@code Closed} entry is recorded a moment after its client sees the close. Unlike a request under
 * {@link HttpProxyExtension}, a connection a test leaves open is journaled in whichever test it
 * ends (tests may keep pooled connections across tests, and a close belongs to the test that sees
 * it): to keep a test's journal its own, end with {@link TcpProxy#awaitIdle(Duration)}.
 *
 * <p>Parameters: an {@code int} annotated {@link MeshletProxy} receives the port, a {@link
 * TcpProxy} parameter the proxy itself.
 */
public final class TcpProxyExtension
    implements BeforeAllCallback,
        AfterAllCallback,
        BeforeEachCallback,
        AfterEachCallback,
        ParameterResolver,
        TestExecutionExceptionHandler {
  /** How long a failure's report waits for the test's connections to end (and be journaled). */
  private static final Duration REPORT_WAIT = Duration.ofMillis(250);

  private static final ProxyLifecycle.Kind<TcpProxyBuilder, TcpProxy> KIND =
      new ProxyLifecycle.Kind<>(
          "meshlet proxy",
          TcpProxy.class,
          TcpProxyBuilder::start,
          TcpProxy::port,
          TcpProxy::journal,
          TcpProxy::close,
          TcpProxyExtension::report);

  private final ProxyLifecycle<TcpProxyBuilder, TcpProxy> lifecycle;

  /**
   * The seed, the toxics and the journal's last entries. A connection's end is journaled a moment
   * after its client sees it close, so the report first waits briefly for open connections to end.
   */
  private static ProxyReport report(TcpProxy p) {
    ProxyLifecycle.waitQuietly(() -> p.awaitIdle(REPORT_WAIT));
    return new ProxyReport(
        p
            + ": replay with TcpProxy.builder().seed(0x"
            + Long.toHexString(p.seed())
            + "L); toxics "
            + p.toxics().list()
            + "; "
            + p.journal().describeTail(20));
  }

  private TcpProxyExtension(ProxyLifecycle<TcpProxyBuilder, TcpProxy> lifecycle) {
    this.lifecycle = lifecycle;
  }

  /**
   * An extension that starts the proxy {@code builder} describes. The supplier is called when the
   * proxy starts (before all tests for a static field), so it may read a backend's port that is
   * only known by then.
   */
  public static TcpProxyExtension create(Supplier<TcpProxyBuilder> builder) {
    return new TcpProxyExtension(
        new ProxyLifecycle<>(KIND, Objects.requireNonNull(builder, "builder"), ""));
  }

  /**
   * This extension under {@code name}, for {@link MeshletProxy#value()} when a class has several.
   */
  public TcpProxyExtension named(String name) {
    return new TcpProxyExtension(lifecycle.named(name, "db"));
  }

  /**
   * The running proxy.
   *
   * @throws IllegalStateException outside the tests' lifecycle (before it starts or after it
   *     closed)
   */
  public TcpProxy proxy() {
    return lifecycle.proxy();
  }

  /** The proxy's port. */
  public int port() {
    return proxy().port();
  }

  /** The proxy's toxics; whatever a test adds is removed after it, and the builder's put back. */
  public Toxics toxics() {
    return proxy().toxics();
  }

  /** The proxy's journal, cleared before each test. */
  public Journal<TcpEvent> journal() {
    return proxy().journal();
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
    TcpProxy p = lifecycle.afterEach(context);
    if (p != null) {
      p.toxics().reset();
      p.enable();
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
    return lifecycle.describe("TcpProxyExtension");
  }

  /** What the proxy saw, attached to a failed test. Not thrown on its own. */
  static final class ProxyReport extends Exception {
    private static final long serialVersionUID = 1L;

    ProxyReport(String message) {
      super(message, null, false, false);
    }
  }
}
