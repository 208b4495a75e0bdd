package dev.meshlet.junit;

import dev.meshlet.core.Journal;
import dev.meshlet.l4.TcpEvent;
import dev.meshlet.l4.TcpProxy;
import dev.meshlet.l4.Toxics;
import java.io.IOException;
import java.io.UncheckedIOException;
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
 * the last; after each test its toxics are removed, it is {@linkplain TcpProxy#enable() enabled} again
 * and its journal is cleared before the next one. On an instance field each test gets a fresh proxy.
 * When a test fails, the failure carries the proxy's seed (to replay the run with
 * {@link TcpProxy.Builder#seed(long)}) and the journal's last entries as a suppressed exception.
 *
 * <p>Parameters: an {@code int} annotated {@link MeshletProxy} receives the port, a
 * {@link TcpProxy} parameter the proxy itself.
 */
public final class TcpProxyExtension
    implements BeforeAllCallback, AfterAllCallback, BeforeEachCallback, AfterEachCallback, ParameterResolver,
        TestExecutionExceptionHandler {
  private final Supplier<TcpProxy.Builder> builder;
  private final String name;
  private volatile @Nullable TcpProxy proxy;
  private volatile @Nullable String startedFor; // unique id of the context that started it

  private TcpProxyExtension(Supplier<TcpProxy.Builder> builder, String name) {
    this.builder = builder;
    this.name = name;
  }

  /**
   * An extension that starts the proxy {@code builder} describes. The supplier is called when the
   * proxy starts (before all tests for a static field), so it may read a backend's port that is only
   * known by then.
   */
  public static TcpProxyExtension create(Supplier<TcpProxy.Builder> builder) {
    return new TcpProxyExtension(Objects.requireNonNull(builder, "builder"), "");
  }

  /** This extension under {@code name}, for {@link MeshletProxy#value()} when a class has several. */
  public TcpProxyExtension named(String name) {
    Objects.requireNonNull(name, "name");
    if (name.isEmpty()) {
      throw new IllegalArgumentException("name: empty (expected: a name such as \"db\")");
    }
    return new TcpProxyExtension(builder, name);
  }

  /**
   * The running proxy.
   *
   * @throws IllegalStateException outside the tests' lifecycle (before it starts or after it closed)
   */
  public TcpProxy proxy() {
    TcpProxy p = proxy;
    if (p == null) {
      throw new IllegalStateException("meshlet proxy" + label()
          + " is not running: use it inside a test, or register the extension on a static field to use it in @BeforeAll");
    }
    return p;
  }

  /** The proxy's port. */
  public int port() {
    return proxy().port();
  }

  /** The proxy's toxics; whatever a test adds is removed after it. */
  public Toxics toxics() {
    return proxy().toxics();
  }

  /** The proxy's journal, cleared before each test. */
  public Journal<TcpEvent> journal() {
    return proxy().journal();
  }

  @Override
  public void beforeAll(ExtensionContext context) {
    start(context);
  }

  @Override
  public void beforeEach(ExtensionContext context) {
    TcpProxy p = proxy;
    if (p == null) {
      start(context);
    } else {
      p.journal().clear();
    }
  }

  @Override
  public void afterEach(ExtensionContext context) {
    TcpProxy p = proxy;
    if (p == null) {
      return;
    }
    if (context.getUniqueId().equals(startedFor)) {
      stop();
      return;
    }
    p.toxics().clear();
    p.enable();
  }

  @Override
  public void afterAll(ExtensionContext context) {
    if (context.getUniqueId().equals(startedFor)) {
      stop();
    }
  }

  private void start(ExtensionContext context) {
    if (proxy != null) {
      return; // a @Nested class inherits its enclosing class's proxy
    }
    TcpProxy.Builder b = Objects.requireNonNull(builder.get(), "the builder supplier returned null");
    try {
      proxy = b.start();
    } catch (IOException e) {
      throw new UncheckedIOException("meshlet proxy" + label() + " did not start: " + e.getMessage(), e);
    }
    startedFor = context.getUniqueId();
  }

  private void stop() {
    TcpProxy p = proxy;
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
    if (type == TcpProxy.class) {
      return true;
    }
    return annotation.isPresent() && (type == int.class || type == Integer.class);
  }

  @Override
  public Object resolveParameter(ParameterContext parameter, ExtensionContext context) {
    TcpProxy p = proxy;
    if (p == null) {
      throw new ParameterResolutionException("meshlet proxy" + label() + " is not running when "
          + parameter.getDeclaringExecutable() + " needs it: register the extension on a static field for @BeforeAll");
    }
    return parameter.getParameter().getType() == TcpProxy.class ? p : (Object) p.port();
  }

  @Override
  public void handleTestExecutionException(ExtensionContext context, Throwable failure) throws Throwable {
    TcpProxy p = proxy;
    if (p != null) {
      failure.addSuppressed(new ProxyReport(p + ": replay with TcpProxy.builder().seed(0x"
          + Long.toHexString(p.seed()) + "L); toxics " + p.toxics().list() + "; " + p.journal().describeTail(20)));
    }
    throw failure;
  }

  private String label() {
    return name.isEmpty() ? "" : " '" + name + "'";
  }

  @Override
  public String toString() {
    TcpProxy p = proxy;
    return "TcpProxyExtension" + label() + "[" + (p == null ? "not running" : p) + "]";
  }

  /** What the proxy saw, attached to a failed test. Not thrown on its own. */
  static final class ProxyReport extends Exception {
    private static final long serialVersionUID = 1L;

    ProxyReport(String message) {
      super(message, null, false, false);
    }
  }
}
