package dev.meshlet.l7;

import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/** Fails a test that leaves a proxy thread ({@code meshlet-l7*}) running after it closed its proxies. */
final class NoLeakedThreads implements AfterEachCallback {
  @Override
  public void afterEach(ExtensionContext context) {
    Await.until("no meshlet-l7 thread left after " + context.getDisplayName(), () -> count() == 0);
  }

  static long count() {
    return Thread.getAllStackTraces().keySet().stream()
        .filter(t -> t.isAlive() && t.getName().startsWith("meshlet-l7"))
        .count();
  }
}
