package dev.meshlet.testkit;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.locks.ReentrantLock;
import org.jspecify.annotations.Nullable;

/**
 * What one test opened, closed in reverse order when the test ends: hold it in an
 * {@code @AutoClose} field, which JUnit closes after each test.
 *
 * <pre>{@code
 * @AutoClose final Resources resources = new Resources();
 *
 * @Test
 * void forwards() throws IOException {
 *   EchoServer backend = resources.track(EchoServer.start());
 *   TcpProxy proxy = resources.track(TcpProxy.builder()...start());
 * }
 * }</pre>
 */
public final class Resources implements AutoCloseable {
  private final ReentrantLock lock = new ReentrantLock();
  private final List<AutoCloseable> open = new ArrayList<>();
  private final Runnable afterClose;

  /** An empty list, with nothing to check after closing it. */
  public Resources() {
    this(() -> {});
  }

  private Resources(Runnable afterClose) {
    this.afterClose = afterClose;
  }

  /**
   * An empty list that runs {@code check} once everything in it is closed, e.g. that the proxies
   * left no thread behind ({@link NoLeakedThreads#awaitNone(String)}). JUnit closes
   * {@code @AutoClose} fields after every {@code AfterEachCallback}, so a check on closed resources
   * belongs here.
   *
   * @param check runs after the last resource closed; it fails the test by throwing
   * @return the list
   */
  public static Resources thenCheck(Runnable check) {
    return new Resources(check);
  }

  /**
   * Adds a resource to close when the test ends.
   *
   * @param resource closed after every resource tracked after it
   * @param <T> its type
   * @return {@code resource}, to use inline
   */
  public <T extends AutoCloseable> T track(T resource) {
    lock.lock();
    try {
      open.add(resource);
    } finally {
      lock.unlock();
    }
    return resource;
  }

  /**
   * Closes every tracked resource, last tracked first, then runs the check; safe to call twice.
   *
   * @throws Exception the first failure to close, with later ones suppressed in it
   */
  @Override
  public void close() throws Exception {
    Exception failure = null;
    for (AutoCloseable resource; (resource = pollLast()) != null; ) {
      try {
        resource.close();
      } catch (Exception e) {
        if (failure == null) {
          failure = e;
        } else {
          failure.addSuppressed(e);
        }
      }
    }
    if (failure != null) {
      throw failure;
    }
    afterClose.run();
  }

  private @Nullable AutoCloseable pollLast() {
    lock.lock();
    try {
      return open.isEmpty() ? null : open.remove(open.size() - 1);
    } finally {
      lock.unlock();
    }
  }
}
