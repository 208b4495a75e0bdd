package dev.meshlet.l7;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.UnknownHostException;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.SelectableChannel;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
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
import org.eclipse.jetty.util.SocketAddressResolver;
import org.eclipse.jetty.util.thread.Scheduler;
import org.jspecify.annotations.Nullable;

/**
 * The proxy's listening connector, whose selector threads also serve its upstream connections.
 *
 * <p>With a selector for the accepted connections and another for the upstream ones, every request
 * crossed between two threads twice: the thread that read the request queued a read interest on the
 * other selector and woke it (an eventfd write and a contended selector lock), and the other did
 * the same on the way back. One {@link SelectorManager} serving both sides keeps a request on the
 * thread that read it, and updates made from a selector's own thread need no wake-up.
 *
 * <p>Jetty's {@link ClientConnector} tells its connections apart by their attachment, the context
 * map it passes to {@link SelectorManager#connect}; accepted connections have none. The manager
 * routes each call to the server's or the client's logic by that attachment. Not mirrored: {@code
 * ClientConnector}'s private connect-success notification of {@code ConnectListener}s, which the
 * proxy does not register.
 */
final class SharedSelectorConnector extends ServerConnector {
  /** The first pause after a failed accept; it doubles on each failure in a row, up to the most. */
  private static final long ACCEPT_PAUSE_MIN_MILLIS = 10;

  private static final long ACCEPT_PAUSE_MAX_MILLIS = 200;

  private volatile @Nullable Upstream upstream;
  private final DescriptorShortage acceptFailures;
  private final DescriptorShortage connectFailures;
  private long acceptPauseMillis; // the acceptor thread's own

  SharedSelectorConnector(
      Server server, Counters total, int acceptors, int selectors, ConnectionFactory... factories) {
    super(server, acceptors, selectors, factories);
    acceptFailures =
        new DescriptorShortage(
            "accepting client connections", total, HttpProxyStats.ErrorKind.ACCEPT_FAILED);
    // each request it fails is counted as OUT_OF_FILE_DESCRIPTORS where its 503 is written
    connectFailures =
        new DescriptorShortage(
            "opening sockets to backends", null, HttpProxyStats.ErrorKind.OUT_OF_FILE_DESCRIPTORS);
  }

  @Override
  public void accept(int acceptorID) throws IOException {
    super.accept(acceptorID);
    acceptPauseMillis = 0;
    acceptFailures.succeeded();
  }

  /**
   * Jetty logs every failed accept with its stack trace and pauses 1 s: out of file descriptors,
   * that is a log line per second and a second of refusing clients after descriptors are free
   * again. Here an episode is logged once and the acceptor pauses 10 ms, doubling to 200 ms: no
   * busy loop, and clients are accepted again within 200 ms of descriptors freeing.
   */
  @Override
  protected boolean handleAcceptFailure(Throwable x) {
    if (!isRunning() || !(x instanceof IOException) || x instanceof ClosedChannelException) {
      return super.handleAcceptFailure(x); // stopping, interrupted or closed: Jetty's own handling
    }
    acceptFailures.failed(x);
    acceptPauseMillis =
        Math.min(ACCEPT_PAUSE_MAX_MILLIS, Math.max(ACCEPT_PAUSE_MIN_MILLIS, 2 * acceptPauseMillis));
    try {
      Thread.sleep(acceptPauseMillis); // a back-off, not a wait for a condition
      return true;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return false;
    }
  }

  @Override
  protected SelectorManager newSelectorManager(
      Executor executor, Scheduler scheduler, int selectors) {
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

    @Override
    protected void connectFailed(
        @Nullable SelectableChannel channel,
        @Nullable SocketAddress address,
        Throwable failure,
        Map<String, Object> context) {
      if (DescriptorShortage.isShortage(failure)) {
        connectFailures.failed(failure);
      }
      super.connectFailed(channel, address, failure, context);
    }

    void failed(SelectableChannel channel, Throwable failure, Map<String, Object> context) {
      connectFailed(
          channel,
          (SocketAddress) context.get(REMOTE_SOCKET_ADDRESS_CONTEXT_KEY),
          failure,
          context);
    }

    void acceptFailedFor(
        SelectableChannel channel, Throwable failure, Map<String, Object> context) {
      acceptFailed(failure, channel, context);
    }
  }

  /**
   * The server connector's manager, which hands upstream connections to the client connector's
   * logic and keeps them from the server's listeners (the connection limit counts accepted
   * connections only).
   */
  private final class Manager extends ServerConnectorManager {
    /**
     * Upstream channels that connected at once and are registered like accepted ones, until then.
     */
    private final Set<SelectableChannel> upstreamAccepts = ConcurrentHashMap.newKeySet();

    /**
     * Upstream endpoints, from creation to close: kept out of the server connector's accounting.
     */
    private final Set<EndPoint> upstreamEndPoints = ConcurrentHashMap.newKeySet();

    /**
     * The selector whose thread this is, on selector threads (and on threads running their tasks
     * inline).
     */
    private final ThreadLocal<@Nullable ManagedSelector> selecting = new ThreadLocal<>();

    Manager(Executor executor, Scheduler scheduler, int selectors) {
      super(executor, scheduler, selectors);
    }

    @Override
    protected ManagedSelector newSelector(int id) {
      return new ManagedSelector(this, id) {
        @Override
        protected int select(Selector selector) throws IOException {
          selecting.set(this);
          return super.select(selector);
        }
      };
    }

    /**
     * An upstream connection made while handling a request goes on the selector of the thread that
     * handles it (the accepted connection's), so the request stays on one thread; accepted
     * connections, made on the acceptor thread, are spread round robin.
     */
    @Override
    protected ManagedSelector chooseSelector() {
      ManagedSelector mine = selecting.get();
      return mine != null && mine.isRunning() ? mine : super.chooseSelector();
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

    @Override
    protected SocketChannelEndPoint newEndPoint(
        SelectableChannel channel, ManagedSelector selector, SelectionKey key) throws IOException {
      if (context(key.attachment()) != null) {
        SocketChannelEndPoint endPoint =
            (SocketChannelEndPoint) upstream().endPoint(channel, selector, key);
        upstreamEndPoints.add(endPoint);
        return endPoint;
      }
      return super.newEndPoint(channel, selector, key);
    }

    @Override
    public Connection newConnection(
        SelectableChannel channel, EndPoint endPoint, @Nullable Object attachment)
        throws IOException {
      Map<String, Object> context = context(attachment);
      return context != null
          ? upstream().connection(endPoint, context)
          : super.newConnection(channel, endPoint, attachment);
    }

    @Override
    public void connectionOpened(Connection connection, @Nullable Object attachment) {
      Map<String, Object> context = context(attachment);
      if (context == null) {
        super.connectionOpened(connection, attachment);
        return;
      }
      @SuppressWarnings("unchecked")
      Promise<Connection> promise =
          (Promise<Connection>) context.get(ClientConnector.CONNECTION_PROMISE_CONTEXT_KEY);
      connectFailures.succeeded();
      if (promise == null) { // not a connection the client asked for: nothing waits on it
        super.connectionOpened(connection, attachment);
        return;
      }
      try {
        super.connectionOpened(connection, attachment);
        promise.succeeded(connection);
      } catch (Throwable x) {
        promise.failed(x);
      }
    }

    @Override
    protected void connectionFailed(
        SelectableChannel channel, Throwable failure, @Nullable Object attachment) {
      super.connectionFailed(channel, failure, attachment);
      Map<String, Object> context = context(attachment);
      if (context != null) {
        upstream().failed(channel, failure, context);
      }
    }

    @Override
    protected void onAcceptFailed(
        SelectableChannel channel, Throwable failure, @Nullable Object attachment) {
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
      if (!upstreamEndPoints.contains(
          endPoint)) { // the server connector counts only its own connections
        super.endPointOpened(endPoint);
      }
    }

    @Override
    protected void endPointClosed(EndPoint endPoint) {
      if (!upstreamEndPoints.remove(endPoint)) {
        super.endPointClosed(endPoint);
      }
    }
  }

  /**
   * Resolves an IP literal at once, on the calling thread (no DNS is involved), and a host name
   * through {@code names} (Jetty's asynchronous resolver). Jetty hands every resolution to the
   * pool; done inline, a new upstream connection is made from the thread handling the request, so
   * it lands on that thread's selector.
   */
  static final class LiteralsInline implements SocketAddressResolver {
    private final SocketAddressResolver names;

    LiteralsInline(SocketAddressResolver names) {
      this.names = names;
    }

    @Override
    public void resolve(
        String host,
        int port,
        Map<String, Object> context,
        Promise<List<InetSocketAddress>> promise) {
      if (!isLiteral(host)) {
        names.resolve(host, port, context, promise);
        return;
      }
      InetSocketAddress address;
      try {
        address = new InetSocketAddress(InetAddress.getByName(host), port); // a literal: parsed
      } catch (UnknownHostException | RuntimeException e) {
        promise.failed(e);
        return;
      }
      promise.succeeded(List.of(address));
    }

    /** Dotted-decimal IPv4, or anything with a colon (IPv6, with or without brackets). */
    static boolean isLiteral(String host) {
      if (host.indexOf(':') >= 0) {
        return true;
      }
      int dots = 0;
      for (int i = 0; i < host.length(); i++) {
        char c = host.charAt(i);
        if (c == '.') {
          dots++;
        } else if (c < '0' || c > '9') {
          return false;
        }
      }
      return dots == 3;
    }
  }
}
