package dev.meshlet.l7;

import dev.meshlet.l4.internal.Pipe;
import dev.meshlet.l4.internal.TunnelSplicer;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Collection;
import java.util.List;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeoutException;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.io.AbstractConnection;
import org.eclipse.jetty.io.Connection;
import org.eclipse.jetty.io.EndPoint;
import org.eclipse.jetty.io.ManagedSelector;
import org.eclipse.jetty.server.Connector;
import org.eclipse.jetty.server.HttpStream;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.util.Callback;
import org.eclipse.jetty.util.thread.Scheduler;
import org.jspecify.annotations.Nullable;

/**
 * An upgraded exchange: the client's and the backend's connections, taken over from HTTP once the
 * backend answered {@code 101}, are handed to the L4 splicer through the route's tunnel toxics: a
 * plain socket as itself ({@link ChannelPipe}), out of Jetty's selector, a TLS one as an {@link
 * EndPointPipe}. As for a TCP connection, each way reads only after the other end took the last
 * read whole (a slow reader holds back its writer), bytes read before the switch go first, an end
 * of stream is passed on as a half-close, and the tunnel closes when both ways ended, one end
 * failed, a toxic ended it, or an end stayed idle for its idle timeout.
 */
final class Tunnel {
  private Tunnel() {}

  /**
   * Answers the client with the backend's {@code 101} (its headers through the proxy's response
   * rules, the upgrade itself kept) and splices the two connections with {@code splicer}, if the
   * exchange can still answer. {@code done} (the backend connection's handover) completes and the
   * exchange ends when the {@code 101} is written; Jetty then hands the client's connection over.
   */
  static void open(
      Exchange exchange,
      Request clientRequest,
      Response clientResponse,
      org.eclipse.jetty.client.Response serverResponse,
      EndPoint backend,
      ProxyConfig config,
      HttpRoute route,
      TunnelSplicer splicer,
      Callback done) {
    int status = serverResponse.getStatus();
    if (!exchange.claim()) {
      backend.close();
      done.failed(new IllegalStateException("meshlet: answered already"));
      return;
    }
    clientResponse.setStatus(status);
    HeaderPolicy.clientResponseHeaders(serverResponse, clientResponse.getHeaders(), config, route);
    String upgrade = serverResponse.getHeaders().get(HttpHeader.UPGRADE);
    if (upgrade == null) {
      upgrade = clientRequest.getHeaders().get(HttpHeader.UPGRADE);
    }
    clientResponse.getHeaders().put(HttpHeader.UPGRADE, upgrade);
    clientResponse.getHeaders().put(HttpHeader.CONNECTION, "Upgrade");
    Connector connector = clientRequest.getConnectionMetaData().getConnector();
    Collection<ManagedSelector> selectors =
        connector instanceof ServerConnector sc
            ? sc.getSelectorManager().getBeans(ManagedSelector.class)
            : List.of();
    Executor executor = connector.getExecutor();
    End fromBackend =
        new End(backend, executor, null, splicer, selectors, connector.getScheduler());
    End fromClient =
        new End(
            clientRequest.getConnectionMetaData().getConnection().getEndPoint(),
            executor,
            fromBackend,
            splicer,
            selectors,
            connector.getScheduler());
    backend.upgrade(fromBackend); // its leftover bytes kept; nothing read until the splice starts
    clientRequest.setAttribute(HttpStream.UPGRADE_CONNECTION_ATTRIBUTE, fromClient);
    clientResponse.write(
        true,
        null,
        Callback.from(
            () -> {
              done.succeeded();
              exchange.finish(status, null, null);
            },
            x -> {
              backend.close(x);
              done.failed(x);
              exchange.finish(status, HttpProxyStats.ErrorKind.CLIENT_ABORTED, x);
            }));
  }

  /**
   * One end as Jetty sees it: the connection an upgraded endpoint now has, which only keeps the
   * bytes read before the switch and, for the client's end, starts the splice once Jetty opened it.
   * A plain socket's end is taken out of Jetty's selector and spliced as a blocking socket ({@link
   * ChannelPipe}); any other (TLS, a PROXY header) through Jetty's callbacks ({@link
   * EndPointPipe}). The splicer's threads do the reading and writing, so Jetty never calls {@link
   * #onFillable}.
   */
  static final class End extends AbstractConnection implements Connection.UpgradeTo {
    /**
     * The backend's end, for the client's end (which starts the splice); null for the backend's.
     */
    private final @Nullable End backend;

    private final TunnelSplicer splicer;
    private final Collection<ManagedSelector> selectors;
    private final Scheduler scheduler;

    /** Bytes read before the switch (a copy); set before the splice starts. */
    private @Nullable ByteBuffer leftover;

    /** Set once the splicer owns the socket itself: Jetty's idle timeout must not close it. */
    private volatile boolean detached;

    End(
        EndPoint endPoint,
        Executor executor,
        @Nullable End backend,
        TunnelSplicer splicer,
        Collection<ManagedSelector> selectors,
        Scheduler scheduler) {
      super(endPoint, executor);
      this.backend = backend;
      this.splicer = splicer;
      this.selectors = selectors;
      this.scheduler = scheduler;
    }

    /** Bytes that came with the last HTTP read, before the other side switched: sent first. */
    @Override
    public void onUpgradeTo(ByteBuffer prefilled) {
      if (prefilled.hasRemaining()) {
        ByteBuffer copy = ByteBuffer.allocate(prefilled.remaining());
        copy.put(prefilled).flip();
        leftover = copy;
      }
    }

    @Override
    public void onOpen() {
      super.onOpen();
      End b = backend;
      if (b == null) {
        return;
      }
      ChannelTakeover.Plain client = ChannelTakeover.find(getEndPoint(), selectors);
      ChannelTakeover.Plain server = ChannelTakeover.find(b.getEndPoint(), b.selectors);
      if (client == null && server == null) {
        splicer.splice(callbackPipe(), b.callbackPipe(), (up, down, why) -> {});
        return;
      }
      // waiting for the selectors to drop the keys must not hold a selector or pool thread
      Thread.ofVirtual().name("meshlet-tunnel-takeover").start(() -> takeOver(client, b, server));
    }

    private void takeOver(
        ChannelTakeover.@Nullable Plain client, End b, ChannelTakeover.@Nullable Plain server) {
      Pipe c = client != null ? detach(client) : callbackPipe();
      Pipe s = server != null ? b.detach(server) : b.callbackPipe();
      try {
        if (client != null) {
          ChannelTakeover.awaitBlocking(client);
        }
        if (server != null) {
          ChannelTakeover.awaitBlocking(server);
        }
      } catch (IOException | RuntimeException e) { // closed meanwhile, or a selector that hung
        c.close(true);
        s.close(true);
        return;
      }
      splicer.splice(c, s, (up, down, why) -> {});
    }

    private Pipe callbackPipe() {
      EndPointPipe pipe = new EndPointPipe(getEndPoint());
      ByteBuffer early = leftover;
      if (early != null) {
        pipe.leftover(early);
      }
      return pipe;
    }

    /** Releases {@code p} from its selector; the pipe is used once it is in blocking mode. */
    private Pipe detach(ChannelTakeover.Plain p) {
      long idleTimeout = p.endPoint().getIdleTimeout();
      detached = true;
      ChannelTakeover.release(p);
      return new ChannelPipe(p.endPoint(), p.channel(), leftover, scheduler, idleTimeout);
    }

    @Override
    public boolean onIdleExpired(TimeoutException timeout) {
      return !detached && super.onIdleExpired(timeout);
    }

    @Override
    public void onFillable() {
      // the splicer reads with callbacks of its own, never through this connection
    }
  }
}
