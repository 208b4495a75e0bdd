package dev.meshlet.l7;

import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.Callback;

/**
 * The Jetty handler at the heart of the proxy: one {@link Exchange} per request, nothing blocks.
 */
final class ForwardingHandler extends Handler.Abstract.NonBlocking {
  /**
   * The request attribute marking a request that reached this handler (its errors are counted
   * here).
   */
  static final String EXCHANGE_ATTRIBUTE = "dev.meshlet.l7.exchange";

  private final ProxyContext ctx;

  /** Read once per request; replaced whole by {@link #replaceRoutes}. */
  private volatile RouteTable routes;

  ForwardingHandler(ProxyContext ctx) {
    this.ctx = ctx;
    this.routes = ctx.config().initialRoutes();
  }

  @Override
  public boolean handle(Request request, Response response, Callback callback) {
    Exchange exchange = new Exchange(ctx, routes, request, response, callback);
    request.setAttribute(EXCHANGE_ATTRIBUTE, exchange);
    try {
      exchange.start();
    } catch (RuntimeException x) {
      exchange.startFailed(x); // else Jetty answers on its own and the exchange never ends
    }
    return true;
  }

  /** The routes requests are routed by now. */
  RouteTable routes() {
    return routes;
  }

  /**
   * Routes the requests that arrive from now on by {@code table}; requests in flight keep theirs.
   * Pooled connections to backends no route reaches any more are closed: idle ones now, busy ones
   * after their exchange.
   */
  void replaceRoutes(RouteTable table) {
    routes = table;
    ctx.destinations().retainOnly(table.addresses());
  }
}
