package dev.meshlet.l7;

import java.io.IOException;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.util.Collection;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import org.eclipse.jetty.io.EndPoint;
import org.eclipse.jetty.io.ManagedSelector;
import org.eclipse.jetty.io.SocketChannelEndPoint;
import org.jspecify.annotations.Nullable;

/**
 * Takes a plain endpoint's socket out of Jetty's selector so that the splicer reads and writes it
 * in blocking mode. Its selection key is cancelled on the selector's own thread (never while that
 * thread handles the key), its interests settled first; the selector drops the key at its next
 * select, after which the channel can be made blocking. Jetty keeps the endpoint, untimed and
 * unread, until the tunnel closes it.
 */
final class ChannelTakeover {
  /**
   * How long a selector may take to drop a cancelled key: one select loop, normally microseconds.
   */
  private static final long DEREGISTER_DEADLINE_NANOS = TimeUnit.SECONDS.toNanos(5);

  private static final long POLL_NANOS = TimeUnit.MICROSECONDS.toNanos(50);

  /** A plain endpoint, its socket and the selector that holds it. */
  record Plain(SocketChannelEndPoint endPoint, SocketChannel channel, ManagedSelector selector) {}

  private ChannelTakeover() {}

  /**
   * {@code e} when it is a plain socket endpoint (no TLS, no PROXY header, no subclass that counts
   * or changes its bytes) registered with one of {@code selectors}; null otherwise.
   */
  static @Nullable Plain find(EndPoint e, Collection<ManagedSelector> selectors) {
    if (e.getClass() != SocketChannelEndPoint.class || !e.isOpen()) {
      return null;
    }
    SocketChannelEndPoint plain = (SocketChannelEndPoint) e;
    SocketChannel channel = plain.getChannel();
    for (ManagedSelector s : selectors) {
      Selector selector = s.getSelector();
      if (selector != null && channel.keyFor(selector) != null) {
        return new Plain(plain, channel, s);
      }
    }
    return null;
  }

  /**
   * Stops Jetty timing {@code p} and asks its selector thread to cancel its key; returns at once.
   */
  static void release(Plain p) {
    p.endPoint().setIdleTimeout(0); // the pipe times the socket from now on
    SocketChannel channel = p.channel();
    SocketChannelEndPoint endPoint = p.endPoint();
    p.selector()
        .submit(
            selector -> {
              SelectionKey key = channel.keyFor(selector);
              if (key != null) {
                // a key selected in this round gets its interests updated after the updates run,
                // and Jetty closes an endpoint whose cancelled key it updates: settle them first
                endPoint.updateKey();
                key.cancel();
              }
            });
  }

  /**
   * Waits (a bounded poll) until {@code p}'s selector dropped its key, then puts the socket in
   * blocking mode.
   *
   * @throws IOException if the selector did not drop the key in time or the socket failed
   */
  static void awaitBlocking(Plain p) throws IOException {
    SocketChannel channel = p.channel();
    long deadline = System.nanoTime() + DEREGISTER_DEADLINE_NANOS;
    while (channel.isRegistered()) {
      if (System.nanoTime() - deadline > 0) {
        throw new IOException(
            "meshlet: the selector kept the upgraded socket for "
                + TimeUnit.NANOSECONDS.toMillis(DEREGISTER_DEADLINE_NANOS)
                + " ms: "
                + p.endPoint());
      }
      LockSupport.parkNanos(POLL_NANOS);
    }
    channel.configureBlocking(true);
  }
}
