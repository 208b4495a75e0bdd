package dev.meshlet.l4;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The proxy's virtual threads, named after its port, counted so that {@link TcpProxy#close()} can
 * wait until the last one has finished.
 */
final class Threads {
  private static final System.Logger LOG = System.getLogger(TcpProxy.class.getName());

  private final String prefix;
  private final ExecutorService executor;
  private final AtomicInteger live = new AtomicInteger();

  /**
   * The threads made by {@link #named}: joined on close, as they may not have begun their task yet.
   */
  private final List<Thread> own = new CopyOnWriteArrayList<>();

  private final ReentrantLock lock = new ReentrantLock();

  /** Signalled when the last of the proxy's threads has finished its task. */
  private final Condition ended = lock.newCondition();

  Threads(String prefix) {
    this.prefix = prefix;
    ThreadFactory connectionThreads = Thread.ofVirtual().name(prefix + "-conn-", 0).factory();
    this.executor =
        Executors.newThreadPerTaskExecutor(task -> connectionThreads.newThread(tracked(task)));
  }

  /** A virtual thread of its own, named {@code prefix-name}, not started. */
  Thread named(String name, Runnable task) {
    Thread t = Thread.ofVirtual().name(prefix + "-" + name).unstarted(tracked(task));
    own.add(t);
    return t;
  }

  /**
   * A platform (daemon) thread named {@code prefix-name}, not started: for the acceptor, which must
   * run as soon as a connection arrives rather than queue behind thousands of runnable virtual
   * threads (in a burst the backlog would overflow meanwhile and clients wait a second for their
   * SYN to be retried).
   */
  Thread platform(String name, Runnable task) {
    Thread t = Thread.ofPlatform().daemon().name(prefix + "-" + name).unstarted(tracked(task));
    own.add(t);
    return t;
  }

  /** Runs {@code task} on a new connection thread; rejected once the proxy is closing. */
  void execute(Runnable task) {
    executor.execute(task);
  }

  ExecutorService executor() {
    return executor;
  }

  /** Threads still running (for leak checks in tests). */
  int live() {
    return live.get();
  }

  private Runnable tracked(Runnable task) {
    return () -> {
      live.incrementAndGet();
      try {
        task.run();
      } finally {
        // A connection thread's executor counts it finished before this runs; close() waits for
        // this.
        if (live.decrementAndGet() == 0) {
          lock.lock();
          try {
            ended.signalAll();
          } finally {
            lock.unlock();
          }
        }
      }
    };
  }

  /** Interrupts the connection threads and waits up to 10 s for every thread to finish. */
  void shutdown(String who) {
    executor.shutdownNow();
    awaitAll(who);
  }

  /** Waits up to 10 s for every thread to finish. */
  void awaitAll(String who) {
    try {
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
      for (Thread t : own) {
        if (t.getState() != Thread.State.NEW) {
          t.join(Duration.ofNanos(Math.max(1, deadline - System.nanoTime())));
        }
      }
      boolean done = executor.awaitTermination(10, TimeUnit.SECONDS);
      lock.lock();
      try {
        long left;
        while (live.get() > 0 && (left = deadline - System.nanoTime()) > 0) {
          ended.awaitNanos(left);
        }
        done &= live.get() == 0;
      } finally {
        lock.unlock();
      }
      if (!done) {
        LOG.log(
            System.Logger.Level.WARNING, who + ": connection threads still running after close");
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
