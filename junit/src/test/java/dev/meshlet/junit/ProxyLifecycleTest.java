package dev.meshlet.junit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

/** The wait a failure's report makes for the proxy's last exchanges to be journaled. */
class ProxyLifecycleTest {

  @Test
  void waitingQuietlyKeepsTheInterruptAndSwallowsOnlyTheTimeout() {
    Thread.currentThread().interrupt();
    boolean[] sawInterrupt = {true};
    ProxyLifecycle.waitQuietly(
        () -> {
          sawInterrupt[0] = Thread.currentThread().isInterrupted();
          throw new AssertionError("timed out");
        });
    assertThat(sawInterrupt[0]).as("interrupt flag while waiting").isFalse();
    assertThat(Thread.interrupted()).as("interrupt flag restored").isTrue();
    assertThatThrownBy(
            () ->
                ProxyLifecycle.waitQuietly(
                    () -> {
                      throw new IllegalStateException("not a timeout");
                    }))
        .isInstanceOf(IllegalStateException.class);
  }
}
