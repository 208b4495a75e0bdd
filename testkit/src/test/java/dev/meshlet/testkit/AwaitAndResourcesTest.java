package dev.meshlet.testkit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@Timeout(value = 30, unit = TimeUnit.SECONDS)
class AwaitAndResourcesTest {
  @Test
  void untilReturnsOnceTheConditionHoldsAndValueReturnsTheAcceptedValue() {
    AtomicInteger polls = new AtomicInteger();
    Await.until("three polls", () -> polls.incrementAndGet() == 3);
    assertThat(polls).hasValue(3);
    assertThat(Await.value("a value over 5", polls::incrementAndGet, v -> v > 5)).isEqualTo(6);
  }

  @Test
  void aMissedDeadlineSaysWhatWasAwaitedAndTheLastValue() {
    assertThatThrownBy(() -> Await.until("the moon", Duration.ofMillis(20), () -> false))
        .isInstanceOf(AssertionError.class)
        .hasMessage("timed out after PT0.02S waiting for the moon");
    assertThatThrownBy(
            () -> Await.value("a miracle", Duration.ofMillis(20), () -> "no", "yes"::equals))
        .hasMessageEndingWith("waiting for a miracle; last value: no");
  }

  @Test
  void resourcesCloseLastTrackedFirstKeepGoingPastAFailureThenCheck() {
    List<String> closed = new ArrayList<>();
    Resources resources = Resources.thenCheck(() -> closed.add("check"));
    resources.track(() -> closed.add("first"));
    resources.track(
        () -> {
          closed.add("second");
          throw new IOException("second failed");
        });
    resources.track(() -> closed.add("third"));
    assertThatThrownBy(resources::close)
        .isInstanceOf(IOException.class)
        .hasMessage("second failed");
    assertThat(closed).containsExactly("third", "second", "first");
  }

  @Test
  void closingTwiceClosesEachResourceOnce() throws Exception {
    AtomicInteger closes = new AtomicInteger();
    Resources resources = new Resources();
    resources.track(closes::incrementAndGet);
    resources.close();
    resources.close();
    assertThat(closes).hasValue(1);
  }

  @Test
  void liveListsOnlyThreadsWithThePrefix() throws Exception {
    CountDownLatch release = new CountDownLatch(1);
    Thread t =
        Thread.ofPlatform()
            .name("meshlet-testkit-probe")
            .start(
                () -> {
                  try {
                    release.await();
                  } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                  }
                });
    try {
      assertThat(NoLeakedThreads.live("meshlet-testkit-")).containsExactly("meshlet-testkit-probe");
    } finally {
      release.countDown();
      t.join();
    }
    NoLeakedThreads.awaitNone("meshlet-testkit-");
    assertThat(NoLeakedThreads.live("meshlet-testkit-")).isEmpty();
  }
}
