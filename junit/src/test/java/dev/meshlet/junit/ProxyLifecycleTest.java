package dev.meshlet.junit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.meshlet.core.Journal;
import java.lang.reflect.Proxy;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * The order the shared lifecycle keeps around the journal, with a stand-in proxy whose settle step
 * journals an entry, as a late exchange would: it must land before the clear and before the report.
 */
class ProxyLifecycleTest {
  /** A stand-in for a proxy: a journal, and what its settle step journals. */
  static final class Fake {
    final Journal<String> journal = new Journal<>(100, "fake");
    String late = "late";
  }

  private static ProxyLifecycle<Object, Fake> lifecycle() {
    ProxyLifecycle.Kind<Object, Fake> kind = new ProxyLifecycle.Kind<>(
        "fake proxy", Fake.class, b -> new Fake(), p -> 1, p -> p.journal,
        p -> p.journal.record(p.late), p -> {}, p -> p.journal.describeTail(5));
    return new ProxyLifecycle<>(kind, Object::new, "");
  }

  private static ExtensionContext context(String id) {
    return (ExtensionContext) Proxy.newProxyInstance(ExtensionContext.class.getClassLoader(),
        new Class<?>[] {ExtensionContext.class}, (self, method, args) -> switch (method.getName()) {
          case "getUniqueId" -> id;
          case "toString" -> "context " + id;
          default -> throw new UnsupportedOperationException(method.getName());
        });
  }

  @Test
  void whatSettlingJournalsIsClearedBeforeTheNextTest() {
    ProxyLifecycle<Object, Fake> l = lifecycle();
    ExtensionContext engine = context("class");
    l.beforeAll(engine);
    Fake p = l.proxy();
    p.journal.record("test 1's exchange");
    l.beforeEach(context("test 2"));
    assertThat(p.journal.entries()).as("cleared after settling").isEmpty();
  }

  @Test
  void aFailureReportHoldsWhatSettlingJournaled() {
    ProxyLifecycle<Object, Fake> l = lifecycle();
    l.beforeAll(context("class"));
    Fake p = l.proxy();
    p.late = "the test's last exchange";
    AssertionError failure = new AssertionError("the client under test misbehaved");
    assertThatThrownBy(() -> l.handleTestExecutionException(failure)).isSameAs(failure);
    assertThat(failure.getSuppressed()).hasSize(1);
    assertThat(failure.getSuppressed()[0].getMessage()).contains("the test's last exchange");
  }

  @Test
  void waitingQuietlyKeepsTheInterruptAndSwallowsOnlyTheTimeout() {
    Thread.currentThread().interrupt();
    boolean[] sawInterrupt = {true};
    ProxyLifecycle.waitQuietly(() -> {
      sawInterrupt[0] = Thread.currentThread().isInterrupted();
      throw new AssertionError("timed out");
    });
    assertThat(sawInterrupt[0]).as("interrupt flag while waiting").isFalse();
    assertThat(Thread.interrupted()).as("interrupt flag restored").isTrue();
    assertThatThrownBy(() -> ProxyLifecycle.waitQuietly(() -> {
      throw new IllegalStateException("not a timeout");
    })).isInstanceOf(IllegalStateException.class);
  }
}
