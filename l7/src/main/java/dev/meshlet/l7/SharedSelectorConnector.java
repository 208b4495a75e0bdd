package dev.meshlet.l7;

import java.io.IOException;
import java.net.SocketAddress;
import java.nio.channels.SelectableChannel;
import java.nio.channels.SelectionKey;
import java.util.Map;
import java.util.concurrent.Executor;
import org.eclipse.jetty.io.ClientConnector;
import org.eclipse.jetty.io.Connection;
import org.eclipse.jetty.io.EndPoint;
import org.eclipse.jetty.io.ManagedSelector;
import org.eclipse.jetty.io.SelectorManager;
import org.eclipse.jetty.io.SocketChannelEndPoint;
import org.eclipse.jetty.server.ConnectionFactory;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.util.Promise;
import org.eclipse.jetty.util.thread.Scheduler;
import org.jspecify.annotations.Nullable;

/**
 * The proxy's listening connector, whose selector threads also serve its upstream connections.
 *
 * <p>With a selector for the accepted connections and another for the upstream ones, every request
 * crossed between two threads twice: the thread that read the request queued a read interest on
 * the other selector and woke it (an eventfd write and a contended selector lock), and the other
 * did the same on the way back. One {@link SelectorManager} serving both sides keeps a request on
 * the thread that read it, and updates made from a selector's own thread need no wake-up.
 *
 * <p>Jetty's {@link ClientConnector} tells its connections apart by their attachment, the context
 * map it passes to {@link SelectorManager#connect}; accepted connections have none. The manager
 * routes each call to the server's or the client's logic by that attachment.
 */
final class SharedSelectorConnector extends ServerConnector {
  private volatile @Nullable Upstream upstream;

  SharedSelectorConnector(Server server, int acceptors, int selectors, ConnectionFactory... factories) {
    super(server, acceptors, selectors, factories);
  }

  @Override
  protected SelectorManager newSelectorManager(Executor executor, Scheduler scheduler, int selectors) {
    return new Manager(executor, scheduler, selectors);
  }

  /**
   * A client connector that connects through this connector's selectors. Start this connector's
   * {@link #getSelectorManager() selector manager} before the client: the client then leaves its
   * life cycle to this connector.
   */
  ClientConnector newClientConnector() {
    Upstream c = new Upstream();
    upstream = c;
    return c;
  }

  private Upstream upstream() {
    Upstream c = upstream;
    if (c == null) {
      throw new IllegalStateException("no client connector shares these selectors");
    }
    return c;
  }

  /** Gives the manager the client connector's own ways to make endpoints and connections. */
  private final class Upstream extends ClientConnector {
    @Override
    protected SelectorManager newSelectorManager() {
      return SharedSelectorConnector.this.getSelectorManager(); // not ClientConnector's own (null)
    }

    EndPoint endPoint(SelectableChannel channel, ManagedSelector selector, SelectionKey key) {
      EndPoint endPoint = newEndPoint(channel, selector, key);
      endPoint.setIdleTimeout(getIdleTimeout().toMillis());
      return endPoint;
    }

    Connection connection(EndPoint endPoint, Map<String, Object> context) throws IOException {
      return newConnection(endPoint, context);
    }

    void failed(SelectableChannel channel, Throwable failure, Map<String, Object> context) {
      connectFailed(channel, (SocketAddress) context.get(REMOTE_SOCKET_ADDRESS_CONTEXT_KEY), failure, context);
    }

    void acceptFailedFor(SelectableChannel channel, Throwable failure, Map<String, Object> context) {
      acceptFailed(failure, channel, context);
    }
  }

  /**
   * The server connector's manager, which hands upstream connections to the client connector's logic
   * and keeps them from the server's listeners (the connection limit counts accepted connections only).
   */
  private final class Manager extends ServerConnectorManager {
    /** Upstream channels that connected at once and are registered like accepted ones, until then. */
    private final java.util.Set<SelectableChannel> upstreamAccepts = java.util.concurrent.ConcurrentHashMap.newKeySet();

    Manager(Executor executor, Scheduler scheduler, int selectors) {
      super(executor, scheduler, selectors);
    }

    @Override
    public void accept(SelectableChannel channel, @Nullable Object attachment) {
      if (context(attachment) != null) {
        upstreamAccepts.add(channel);
      }
      super.accept(channel, attachment);
    }

    @Override
    protected void onAccepting(SelectableChannel channel) {
      if (!upstreamAccepts.contains(channel)) {
        super.onAccepting(channel);
      }
    }

    @Override
    protected void onAccepted(SelectableChannel channel) {
      if (!upstreamAccepts.remove(channel)) {
        super.onAccepted(channel);
      }
    }

    @SuppressWarnings("unchecked")
    private static @Nullable Map<String, Object> context(@Nullable Object attachment) {
      return attachment instanceof Map<?, ?> m ? (Map<String, Object>) m : null;
    }

    private static boolean isUpstream(EndPoint endPoint) {
      return endPoint.getConnection() instanceof org.eclipse.jetty.client.Connection;
    }

    @Override
    protected SocketChannelEndPoint newEndPoint(SelectableChannel channel, ManagedSelector selector, SelectionKey key)
        throws IOException {
      if (context(key.attachment()) != null) {
        return (SocketChannelEndPoint) upstream().endPoint(channel, selector, key);
      }
      return super.newEndPoint(channel, selector, key);
    }

    @Override
    public Connection newConnection(SelectableChannel channel, EndPoint endPoint, @Nullable Object attachment)
        throws IOException {
      Map<String, Object> context = context(attachment);
      return context != null ? upstream().connection(endPoint, context) : super.newConnection(channel, endPoint, attachment);
    }

    @Override
    public void connectionOpened(Connection connection, @Nullable Object attachment) {
      Map<String, Object> context = context(attachment);
      if (context == null) {
        super.connectionOpened(connection, attachment);
        return;
      }
      @SuppressWarnings("unchecked")
      Promise<Connection> promise = (Promise<Connection>) context.get(ClientConnector.CONNECTION_PROMISE_CONTEXT_KEY);
      try {
        super.connectionOpened(connection, attachment);
        promise.succeeded(connection);
      } catch (Throwable x) {
        promise.failed(x);
      }
    }

    @Override
    protected void connectionFailed(SelectableChannel channel, Throwable failure, @Nullable Object attachment) {
      super.connectionFailed(channel, failure, attachment);
      Map<String, Object> context = context(attachment);
      if (context != null) {
        upstream().failed(channel, failure, context);
      }
    }

    @Override
    protected void onAcceptFailed(SelectableChannel channel, Throwable failure, @Nullable Object attachment) {
      Map<String, Object> context = context(attachment);
      if (context == null) {
        super.onAcceptFailed(channel, failure, attachment);
        return;
      }
      upstreamAccepts.remove(channel);
      upstream().acceptFailedFor(channel, failure, context);
    }

    @Override
    protected void endPointOpened(EndPoint endPoint) {
      if (!isUpstream(endPoint)) { // the server connector counts only its own connections
        super.endPointOpened(endPoint);
      }
    }

    @Override
    protected void endPointClosed(EndPoint endPoint) {
      if (!isUpstream(endPoint)) {
        super.endPointClosed(endPoint);
      }
    }
  }
}
