package dev.meshlet.l7;

import dev.meshlet.l4.internal.TunnelSplicer;
import java.nio.ByteBuffer;
import java.util.concurrent.Executor;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.io.AbstractConnection;
import org.eclipse.jetty.io.Connection;
import org.eclipse.jetty.io.EndPoint;
import org.eclipse.jetty.server.HttpStream;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.Callback;
import org.jspecify.annotations.Nullable;

/**
 * An upgraded exchange: the client's and the backend's connections, taken over from HTTP once the
 * backend answered {@code 101}, are handed to the L4 splicer as two {@link EndPointPipe}s, through
 * the route's tunnel toxics. As for a TCP connection, each way reads only after the other end took
 * the last read whole (a slow reader holds back its writer), bytes read before the switch go first,
 * an end of stream is passed on as a half-close, and the tunnel closes when both ways ended, one
 * end failed, a toxic ended it, or an end stayed idle for its idle timeout.
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
    Executor executor = clientRequest.getConnectionMetaData().getConnector().getExecutor();
    End fromBackend = new End(backend, executor, null, splicer);
    End fromClient =
        new End(
            clientRequest.getConnectionMetaData().getConnection().getEndPoint(),
            executor,
            fromBackend,
            splicer);
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
   * The splicer's threads do the reading and writing, so Jetty never calls {@link #onFillable}.
   */
  static final class End extends AbstractConnection implements Connection.UpgradeTo {
    final EndPointPipe pipe;

    /**
     * The backend's end, for the client's end (which starts the splice); null for the backend's.
     */
    private final @Nullable End backend;

    private final TunnelSplicer splicer;

    End(EndPoint endPoint, Executor executor, @Nullable End backend, TunnelSplicer splicer) {
      super(endPoint, executor);
      this.pipe = new EndPointPipe(endPoint);
      this.backend = backend;
      this.splicer = splicer;
    }

    /** Bytes that came with the last HTTP read, before the other side switched: sent first. */
    @Override
    public void onUpgradeTo(ByteBuffer prefilled) {
      pipe.leftover(prefilled);
    }

    @Override
    public void onOpen() {
      super.onOpen();
      End b = backend;
      if (b != null) {
        splicer.splice(pipe, b.pipe, (up, down, why) -> {});
      }
    }

    @Override
    public void onFillable() {
      // the splicer reads with callbacks of its own, never through this connection
    }
  }
}
