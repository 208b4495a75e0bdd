package dev.meshlet.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.meshlet.core.internal.JournalWriter;
import java.time.Duration;
import org.junit.jupiter.api.Test;

class JournalTest {

  @Test
  void keepsTheLastEntriesAndCountsWhatItDrops() {
    JournalWriter<String> jw = JournalWriter.create(3, "test journal");
    Journal<String> j = jw.journal();
    for (String s : new String[] {"a", "b", "c", "d", "e"}) {
      jw.record(s);
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
    JournalWriter<Object> jw = JournalWriter.create(10, "test journal");
    Journal<Object> j = jw.journal();
    jw.record("x");
    Thread writer =
        Thread.ofVirtual()
            .start(
                () -> {
                  jw.record(1);
                  jw.record(2);
                });
    assertThat(j.awaitCount(Integer.class, 2, Duration.ofSeconds(10))).containsExactly(1, 2);
    writer.join();
  }

  @Test
  void awaitCountTimesOutNamingTheOwnerAndWhatItFound() {
    JournalWriter<Object> jw = JournalWriter.create(10, "proxy seed=0x2aL");
    Journal<Object> j = jw.journal();
    jw.record(1);
    assertThatThrownBy(() -> j.awaitCount(Integer.class, 2, Duration.ofMillis(50)))
        .isInstanceOf(AssertionError.class)
        .hasMessageContaining("proxy seed=0x2aL")
        .hasMessageContaining("waiting for 2 Integer entries (found 1)");
  }

  @Test
  void awaitingMoreThanTheJournalCanHoldFailsAtOnce() {
    JournalWriter<String> jw = JournalWriter.create(2, "proxy seed=0x2aL");
    Journal<String> j = jw.journal();
    assertThatThrownBy(() -> j.awaitCount(String.class, 3, Duration.ofDays(1)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("keeps only the last 2")
        .hasMessageContaining("journalCapacity");
    JournalWriter<String> noneWriter = JournalWriter.create(0, "journal");
    Journal<String> none = noneWriter.journal();
    assertThatThrownBy(() -> none.awaitCount(String.class, 1, Duration.ofDays(1)))
        .isInstanceOf(IllegalArgumentException.class);
  }

  @Test
  void whatBeganBeforeAClearIsNotJournaledAfterIt() {
    JournalWriter<String> jw = JournalWriter.create(10, "test journal");
    Journal<String> j = jw.journal();
    long before = jw.generation();
    jw.record("began and ended before", before);
    assertThat(j.entries()).containsExactly("began and ended before");
    j.clear();
    jw.record("began before, ended after", before);
    long after = jw.generation();
    assertThat(after).isEqualTo(before + 1);
    jw.record("began and ended after", after);
    jw.record("recorded as it happens");
    assertThat(j.entries()).containsExactly("began and ended after", "recorded as it happens");
    assertThat(j.recorded()).as("the late entry is not counted either").isEqualTo(2);
    assertThat(j.dropped()).isZero();
  }
}
