package dev.meshlet.l7;

import java.io.IOException;
import java.nio.channels.ClosedSelectorException;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.util.Iterator;
import java.util.concurrent.Executor;
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
 * for a while, so fast requests never touch it. One platform thread, named {@code
 * meshlet-l7-client-watcher}, stopped by {@link #close()}.
 */
final class ClientWatcher implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(ClientWatcher.class);

  private final Selector selector;
  private final Executor executor;
  private final Thread thread;
  private volatile boolean running = true;

  ClientWatcher(Executor executor) throws IOException {
    this.executor = executor;
    this.selector = Selector.open();
    this.thread =
        Thread.ofPlatform().daemon().name("meshlet-l7-client-watcher").unstarted(this::loop);
    thread.start();
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
    Watch w = new Watch(onGone);
    try {
      w.key = channel.register(selector, SelectionKey.OP_READ, w);
    } catch (IOException | RuntimeException e) {
      return null; // closed channel or selector, or a channel in blocking mode: nothing to watch
    }
    selector.wakeup(); // a new key counts from the selector's next select
    return w;
  }

  private void loop() {
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
    running = false;
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
