package dev.meshlet.l7;

import java.nio.ByteBuffer;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeoutException;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.io.AbstractConnection;
import org.eclipse.jetty.io.Connection;
import org.eclipse.jetty.io.EndPoint;
import org.eclipse.jetty.server.HttpStream;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.BufferUtil;
import org.eclipse.jetty.util.Callback;
import org.jspecify.annotations.Nullable;

/**
 * An upgraded exchange: the client's and the backend's connections, taken over from HTTP once the
 * backend answered {@code 101}, pass bytes both ways untouched. Each way reads only after the other
 * end took the last read whole, so a slow reader holds back its writer instead of filling memory;
 * an end of stream is passed on as a half-close, and the tunnel closes when both ways ended, one
 * end failed, or an end stayed idle for its idle timeout.
 */
final class Tunnel {
  private static final int BUFFER = 16 * 1024;

  private Tunnel() {}

  /**
   * Answers the client with the backend's {@code 101} (its headers through the proxy's response
   * rules, the upgrade itself kept) and joins the two connections, if the exchange can still
   * answer. {@code done} (the backend connection's handover) completes and the exchange ends when
   * the {@code 101} is written; Jetty then hands the client's connection over.
   */
  static void open(
      Exchange exchange,
      Request clientRequest,
      Response clientResponse,
      org.eclipse.jetty.client.Response serverResponse,
      EndPoint backend,
      ProxyConfig config,
      HttpRoute route,
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
    End fromClient =
        new End(clientRequest.getConnectionMetaData().getConnection().getEndPoint(), executor);
    End fromBackend = new End(backend, executor);
    fromClient.peer = fromBackend;
    fromBackend.peer = fromClient;
    fromClient.startsBoth = true;
    backend.upgrade(fromBackend); // reads nothing until the client's end opens
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

  /** One end: reads its endpoint and writes what it read to the other end's. */
  static final class End extends AbstractConnection implements Connection.UpgradeTo {
    private final ByteBuffer buffer = BufferUtil.allocate(BUFFER);
    private @Nullable End peer;

    /** The client's end: opened by Jetty after the 101 is written, it starts both ways. */
    private boolean startsBoth;

    private volatile boolean ended;

    End(EndPoint endPoint, Executor executor) {
      super(endPoint, executor);
    }

    private End peer() {
      End p = peer;
      if (p == null) {
        throw new IllegalStateException("a tunnel end without its peer");
      }
      return p;
    }

    /** Bytes that came with the last HTTP read, before the other side switched: sent first. */
    @Override
    public void onUpgradeTo(ByteBuffer prefilled) {
      if (prefilled.hasRemaining()) {
        BufferUtil.append(buffer, prefilled);
      }
    }

    @Override
    public void onOpen() {
      super.onOpen();
      if (startsBoth) {
        start();
        peer().start();
      }
    }

    private void start() {
      if (buffer.hasRemaining()) {
        forward();
      } else {
        fillInterested();
      }
    }

    @Override
    public void onFillable() {
      try {
        BufferUtil.clear(buffer);
        int n = getEndPoint().fill(buffer);
        if (n > 0) {
          forward();
        } else if (n == 0) {
          fillInterested();
        } else {
          ended = true;
          End p = peer();
          if (p.ended) {
            close();
          } else {
            p.getEndPoint().shutdownOutput(); // the other way goes on until it ends too
          }
        }
      } catch (Throwable x) {
        fail(x);
      }
    }

    /** Writes what was read to the other end, then reads again once it took all of it. */
    private void forward() {
      peer().getEndPoint().write(Callback.from(this::fillInterested, this::fail), buffer);
    }

    private void fail(Throwable x) {
      getEndPoint().close(x);
      peer().getEndPoint().close(x);
    }

    @Override
    protected boolean onReadTimeout(TimeoutException timeout) {
      fail(timeout);
      return true;
    }

    @Override
    public void close() {
      getEndPoint().close();
      peer().getEndPoint().close();
    }

    @Override
    public void onClose(@Nullable Throwable cause) {
      super.onClose(cause);
      End p = peer;
      if (p != null) {
        p.getEndPoint().close(cause);
      }
    }
  }
}
