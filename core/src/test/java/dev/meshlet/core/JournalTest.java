package dev.meshlet.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import org.junit.jupiter.api.Test;

class JournalTest {

  @Test
  void keepsTheLastEntriesAndCountsWhatItDrops() {
    Journal<String> j = new Journal<>(3, "test journal");
    for (String s : new String[] {"a", "b", "c", "d", "e"}) {
      j.record(s);
    }
    assertThat(j.entries()).containsExactly("c", "d", "e");
    assertThat(j.recorded()).isEqualTo(5);
    assertThat(j.dropped()).isEqualTo(2);
    j.clear();
    assertThat(j.entries()).isEmpty();
    assertThat(j.dropped()).isZero();
  }

  @Test
  void awaitCountReturnsOnceAnotherThreadRecordedEnough() throws Exception {
    Journal<Object> j = new Journal<>(10, "test journal");
    j.record("x");
    Thread writer = Thread.ofVirtual().start(() -> {
      j.record(1);
      j.record(2);
    });
    assertThat(j.awaitCount(Integer.class, 2, Duration.ofSeconds(10))).containsExactly(1, 2);
    writer.join();
  }

  @Test
  void awaitCountTimesOutNamingTheOwnerAndWhatItFound() {
    Journal<Object> j = new Journal<>(10, "proxy seed=0x2aL");
    j.record(1);
    assertThatThrownBy(() -> j.awaitCount(Integer.class, 2, Duration.ofMillis(50)))
        .isInstanceOf(AssertionError.class)
        .hasMessageContaining("proxy seed=0x2aL")
        .hasMessageContaining("waiting for 2 Integer entries (found 1)");
  }

  @Test
  void awaitingMoreThanTheJournalCanHoldFailsAtOnce() {
    Journal<String> j = new Journal<>(2, "proxy seed=0x2aL");
    assertThatThrownBy(() -> j.awaitCount(String.class, 3, Duration.ofDays(1)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("keeps only the last 2")
        .hasMessageContaining("journalCapacity");
    Journal<String> none = new Journal<>(0);
    assertThatThrownBy(() -> none.awaitCount(String.class, 1, Duration.ofDays(1)))
        .isInstanceOf(IllegalArgumentException.class);
  }

  @Test
  void whatBeganBeforeAClearIsNotJournaledAfterIt() {
    Journal<String> j = new Journal<>(10, "test journal");
    long before = j.generation();
    j.record("began and ended before", before);
    assertThat(j.entries()).containsExactly("began and ended before");
    j.clear();
    j.record("began before, ended after", before);
    long after = j.generation();
    assertThat(after).isEqualTo(before + 1);
    j.record("began and ended after", after);
    j.record("recorded as it happens");
    assertThat(j.entries()).containsExactly("began and ended after", "recorded as it happens");
    assertThat(j.recorded()).as("the late entry is not counted either").isEqualTo(2);
    assertThat(j.dropped()).isZero();
  }
}
