package dev.meshlet.testkit;

import java.util.List;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * Fails a test that leaves a meshlet thread (a name starting with {@code meshlet-}) running after
 * it closed its proxies; proxies name all their threads so.
 *
 * <pre>{@code
 * @ExtendWith(NoLeakedThreads.class)
 * class ForwardingTest { ... }
 * }</pre>
 *
 * <p>It runs after the test's {@code @AfterEach} methods but before JUnit closes {@code @AutoClose}
 * fields: a test that keeps its proxies in {@link Resources} checks there instead, with {@link
 * Resources#thenCheck(Runnable)} and {@link #awaitNone(String)}.
 */
public final class NoLeakedThreads implements AfterEachCallback {
  /** The prefix every meshlet thread name starts with. */
  public static final String MESHLET = "meshlet-";

  /** Creates the extension; JUnit calls this for {@code @ExtendWith(NoLeakedThreads.class)}. */
  public NoLeakedThreads() {}

  @Override
  public void afterEach(ExtensionContext context) {
    awaitNone(MESHLET, "after " + context.getDisplayName());
  }

  /**
   * Waits, with {@link Await}'s deadline, until no live thread's name starts with {@code prefix}.
   *
   * @param prefix the start of the thread names that must be gone
   * @throws AssertionError naming the threads still alive when the deadline passes
   */
  public static void awaitNone(String prefix) {
    awaitNone(prefix, "after close");
  }

  private static void awaitNone(String prefix, String when) {
    Await.value("no " + prefix + "* thread left " + when, () -> live(prefix), List::isEmpty);
  }

  /**
   * Names of the live threads whose name starts with {@code prefix}, now.
   *
   * @param prefix the start of the thread names, e.g. {@code "meshlet-l4-"}
   * @return their names, in no particular order
   */
  public static List<String> live(String prefix) {
    return Thread.getAllStackTraces().keySet().stream()
        .filter(Thread::isAlive)
        .map(Thread::getName)
        .filter(n -> n.startsWith(prefix))
        .toList();
  }
}
