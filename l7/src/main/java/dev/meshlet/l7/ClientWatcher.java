package dev.meshlet.l7;

import java.io.IOException;
import java.nio.channels.ClosedSelectorException;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.util.Iterator;
import java.util.concurrent.Executor;
import java.util.concurrent.locks.ReentrantLock;
import org.eclipse.jetty.server.Request;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Notices a client that closes or resets its connection while the proxy waits for a backend.
 *
 * <p>Jetty's server connection stops reading while a request is handled, so a client's FIN or RST
 * would go unseen until the backend answered or timed out. Registering read interest on Jetty's own
 * endpoint would make Jetty consume the bytes of a pipelined request, so this watcher has a
 * selector of its own: it only looks at whether the socket is readable. Readable with no byte
 * available means end of stream or reset: the exchange is told, on the proxy's executor. Readable
 * with bytes means a pipelined request: the watch ends and the bytes stay for Jetty.
 *
 * <p>Exchanges register only once their request body is complete and their backend has been silent
 * for a while, so fast requests never touch it; the watcher's selector and its platform thread,
 * named {@code meshlet-l7-client-watcher}, are made by the first watch (a proxy that never waits
 * long on a backend never starts a thread for it) and stopped by {@link #close()}.
 */
final class ClientWatcher implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(ClientWatcher.class);

  private final Executor executor;
  private final ReentrantLock lock = new ReentrantLock();

  /** Made with {@link #thread} by the first watch; written under {@link #lock}. */
  private volatile @Nullable Selector selector;

  private @Nullable Thread thread;
  private volatile boolean running = true;

  ClientWatcher(Executor executor) {
    this.executor = executor;
  }

  /** The selector, opened with its thread on first use; null once closed or when none opens. */
  private @Nullable Selector selector() {
    Selector s = selector;
    if (s != null) {
      return s;
    }
    lock.lock();
    try {
      if (!running) {
        return null;
      }
      s = selector;
      if (s == null) {
        s = Selector.open();
        Selector opened = s;
        Thread t =
            Thread.ofPlatform()
                .daemon()
                .name("meshlet-l7-client-watcher")
                .unstarted(() -> loop(opened));
        t.start();
        thread = t;
        selector = s;
      }
      return s;
    } catch (IOException e) {
      LOG.warn("client watcher: no selector: clients leaving will be noticed only by timeouts", e);
      running = false;
      return null;
    } finally {
      lock.unlock();
    }
  }

  /** One watched connection; {@link #cancel()} ends the watch and is idempotent. */
  static final class Watch {
    private final Runnable onGone;
    private volatile @Nullable SelectionKey key;
    private volatile boolean cancelled;

    private Watch(Runnable onGone) {
      this.onGone = onGone;
    }

    /** Cancels {@code watch} if there is one. */
    static void cancel(@Nullable Watch watch) {
      if (watch != null) {
        watch.cancel();
      }
    }

    void cancel() {
      cancelled = true;
      SelectionKey k = key;
      if (k != null) {
        k.cancel(); // the selector forgets it on its next select; a stray wake-up finds it
        // cancelled
      }
    }
  }

  /**
   * Watches {@code clientRequest}'s connection until it is cancelled or the client is gone; then
   * runs {@code onGone} on the executor. Returns null when the connection cannot be watched (not a
   * socket, closed already, or the watcher is).
   */
  @Nullable Watch watch(Request clientRequest, Runnable onGone) {
    if (!running
        || !(clientRequest.getConnectionMetaData().getConnection().getEndPoint().getTransport()
            instanceof SocketChannel channel)) {
      return null;
    }
    Selector selector = selector();
    if (selector == null) {
      return null;
    }
    Watch w = new Watch(onGone);
    try {
      w.key = channel.register(selector, SelectionKey.OP_READ, w);
    } catch (IOException | RuntimeException e) {
      return null; // closed channel or selector, or a channel in blocking mode: nothing to watch
    }
    selector.wakeup(); // a new key counts from the selector's next select
    return w;
  }

  private void loop(Selector selector) {
    try {
      while (running) {
        selector.select(
            1000); // wakes each second too: cancelled keys are deregistered, their sockets freed
        for (Iterator<SelectionKey> it = selector.selectedKeys().iterator(); it.hasNext(); ) {
          SelectionKey k = it.next();
          it.remove();
          k.cancel(); // one look per watch: gone, or a pipelined request that Jetty will read
          if (!(k.attachment() instanceof Watch w) || w.cancelled) {
            continue;
          }
          if (available((SocketChannel) k.channel()) == 0) {
            w.cancelled = true;
            try {
              executor.execute(w.onGone);
            } catch (RuntimeException e) {
              LOG.debug("client watcher: executor refused", e);
            }
          }
        }
      }
    } catch (IOException | ClosedSelectorException e) {
      if (running) {
        LOG.warn("client watcher stopped: clients leaving will be noticed only by timeouts", e);
      }
    }
  }

  private static int available(SocketChannel channel) {
    try {
      return channel.socket().getInputStream().available();
    } catch (IOException | RuntimeException e) {
      return 0; // reset or closed
    }
  }

  @Override
  public void close() {
    Selector selector;
    Thread thread;
    lock.lock();
    try {
      running = false;
      selector = this.selector;
      thread = this.thread;
    } finally {
      lock.unlock();
    }
    if (selector == null || thread == null) {
      return;
    }
    selector.wakeup();
    try {
      thread.join(2000);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    try {
      selector.close();
    } catch (IOException e) {
      LOG.debug("closing the client watcher's selector", e);
    }
  }
}
