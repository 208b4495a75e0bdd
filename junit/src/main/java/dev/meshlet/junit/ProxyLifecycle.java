package dev.meshlet.junit;

import dev.meshlet.core.Journal;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.function.Consumer;
import java.util.function.Function;
import java.util.function.Supplier;
import java.util.function.ToIntFunction;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.ParameterContext;
import org.junit.jupiter.api.extension.ParameterResolutionException;

/**
 * The lifecycle the proxy extensions share: which context started the proxy (and so stops it), the
 * journal cleared before each test, parameter resolution, and the report a failing test carries.
 * The public extensions delegate to it, so their API stays their own.
 *
 * @param <B> the proxy's builder
 * @param <P> the proxy
 */
final class ProxyLifecycle<B, P> {
  /** Starts a proxy from its builder. */
  @FunctionalInterface
  interface Starter<B, P> {
    P start(B builder) throws IOException;
  }

  /**
   * How to handle one kind of proxy; {@code report} describes it for a failing test, as an
   * exception named after its extension.
   */
  record Kind<B, P>(
      String noun,
      Class<P> type,
      Starter<B, P> start,
      ToIntFunction<P> port,
      Function<P, Journal<?>> journal,
      Consumer<P> close,
      Function<P, Exception> report) {}

  /**
   * The parameter types some meshlet extension fills, by name: the L7 types may be absent from a
   * TCP-only test's class path.
   */
  private static final Set<String> SUPPORTED =
      Set.of("int", Integer.class.getName(), "dev.meshlet.l4.TcpProxy", "dev.meshlet.l7.HttpProxy");

  private final Kind<B, P> kind;
  private final Supplier<B> builder;
  private final String name;
  private volatile @Nullable P proxy;
  private volatile @Nullable String startedFor; // unique id of the context that started it

  ProxyLifecycle(Kind<B, P> kind, Supplier<B> builder, String name) {
    this.kind = kind;
    this.builder = builder;
    this.name = name;
  }

  /**
   * A new lifecycle for the same proxy under {@code name}; {@code example} is for the error
   * message.
   */
  ProxyLifecycle<B, P> named(String name, String example) {
    Objects.requireNonNull(name, "name");
    if (name.isEmpty()) {
      throw new IllegalArgumentException(
          "name: empty (expected: a name such as \"" + example + "\")");
    }
    return new ProxyLifecycle<>(kind, builder, name);
  }

  P proxy() {
    P p = proxy;
    if (p == null) {
      throw new IllegalStateException(
          kind.noun()
              + label()
              + " is not running: use it inside a test, or register the extension on a static field to use it in @BeforeAll");
    }
    return p;
  }

  void beforeAll(ExtensionContext context) {
    start(context);
  }

  void beforeEach(ExtensionContext context) {
    P p = proxy;
    if (p == null) {
      start(context);
    } else {
      kind.journal().apply(p).clear();
    }
  }

  /**
   * Stops the proxy if {@code context} started it; otherwise returns the proxy still running, if
   * any.
   */
  @Nullable P afterEach(ExtensionContext context) {
    P p = proxy;
    if (p == null) {
      return null;
    }
    if (context.getUniqueId().equals(startedFor)) {
      stop();
      return null;
    }
    return p;
  }

  void afterAll(ExtensionContext context) {
    if (context.getUniqueId().equals(startedFor)) {
      stop();
    }
  }

  private void start(ExtensionContext context) {
    if (proxy != null) {
      return; // a @Nested class inherits its enclosing class's proxy
    }
    B b = Objects.requireNonNull(builder.get(), "the builder supplier returned null");
    try {
      proxy = kind.start().start(b);
    } catch (IOException e) {
      throw new UncheckedIOException(
          kind.noun() + label() + " did not start: " + e.getMessage(), e);
    }
    startedFor = context.getUniqueId();
  }

  private void stop() {
    P p = proxy;
    proxy = null;
    startedFor = null;
    if (p != null) {
      kind.close().accept(p);
    }
  }

  boolean supportsParameter(ParameterContext parameter) {
    Class<?> type = parameter.getParameter().getType();
    Optional<MeshletProxy> annotation = parameter.findAnnotation(MeshletProxy.class);
    if (annotation.isPresent()
        && !annotation.get().value().isEmpty()
        && !annotation.get().value().equals(name)) {
      return false;
    }
    if (type == kind.type()) {
      return true;
    }
    if (annotation.isPresent() && !SUPPORTED.contains(type.getName())) {
      throw new ParameterResolutionException(
          "@MeshletProxy on "
              + type.getSimpleName()
              + " parameter '"
              + parameter.getParameter().getName()
              + "' of "
              + parameter.getDeclaringExecutable()
              + ": expected int or Integer (the port), TcpProxy or HttpProxy");
    }
    return annotation.isPresent() && (type == int.class || type == Integer.class);
  }

  Object resolveParameter(ParameterContext parameter) {
    P p = proxy;
    if (p == null) {
      throw new ParameterResolutionException(
          kind.noun()
              + label()
              + " is not running when "
              + parameter.getDeclaringExecutable()
              + " needs it: register the extension on a static field for @BeforeAll");
    }
    return parameter.getParameter().getType() == kind.type()
        ? p
        : (Object) kind.port().applyAsInt(p);
  }

  void handleTestExecutionException(Throwable failure) throws Throwable {
    P p = proxy;
    if (p != null) {
      failure.addSuppressed(kind.report().apply(p));
    }
    throw failure;
  }

  /**
   * Runs {@code wait} (an {@code awaitIdle} before a failure's report: a client has its answer a
   * moment before the proxy journals it), treating its timeout as "report what is journaled so
   * far", and with the interrupt flag cleared meanwhile, else the wait would spin instead of
   * parking.
   */
  static void waitQuietly(Runnable wait) {
    boolean interrupted = Thread.interrupted();
    try {
      wait.run();
    } catch (AssertionError stillBusy) {
      // a request or connection still open: report what is journaled so far
    } finally {
      if (interrupted) {
        Thread.currentThread().interrupt();
      }
    }
  }

  private String label() {
    return name.isEmpty() ? "" : " '" + name + "'";
  }

  /** {@code owner} and this proxy's name and state, for the extension's {@code toString()}. */
  String describe(String owner) {
    P p = proxy;
    return owner + label() + "[" + (p == null ? "not running" : p) + "]";
  }
}
