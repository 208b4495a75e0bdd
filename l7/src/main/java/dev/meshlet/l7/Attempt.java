package dev.meshlet.l7;

import dev.meshlet.core.Endpoint;
import java.io.IOException;
import java.net.ConnectException;
import java.nio.ByteBuffer;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicReferenceFieldUpdater;
import java.util.function.Consumer;
import java.util.function.Supplier;
import org.eclipse.jetty.client.ContentResponse;
import org.eclipse.jetty.client.Request;
import org.eclipse.jetty.client.Response;
import org.eclipse.jetty.client.Result;
import org.eclipse.jetty.http.HttpFields;
import org.eclipse.jetty.http.HttpMethod;
import org.eclipse.jetty.io.Connection;
import org.eclipse.jetty.io.Content;
import org.eclipse.jetty.io.EndPoint;
import org.eclipse.jetty.util.BufferUtil;
import org.eclipse.jetty.util.Callback;
import org.eclipse.jetty.util.thread.Invocable;
import org.jspecify.annotations.Nullable;

/**
 * One try of an {@link Exchange}: its endpoint and counters, the proxy request (proxy→server) and
 * the listener of the server response (server→proxy), which it forwards as the client response
 * (proxy→client). Built whole for each try, never reused: nothing is reset between tries.
 *
 * <p>It reports to its exchange through a few calls: {@link Exchange#claim()} before it writes the
 * client response, {@link Exchange#mayRetry} and {@link Exchange#retry} when it failed in a way
 * that may be tried again, {@link Exchange#tryFailed} when it may not, {@link Exchange#finish} when
 * the client response is written (or {@link Exchange#sendError} when its response head was
 * refused); and three notices: {@link Exchange#releasePending} (it got a connection), {@link
 * Exchange#watchClient} (its server is silent), {@link Exchange#client()} (the client left or
 * cannot be written to). What it counts against its backend is its {@link TryTally}'s, its timers
 * are its {@link TryTimers}', how far it got (and so whether its failure is retried) is its {@link
 * TryProgress}'.
 */
final class Attempt
    implements Response.Listener,
        Request.QueuedListener,
        Request.BeginListener,
        Request.HeadersListener,
        Consumer<HttpFields.Mutable>,
        Supplier<@Nullable HttpFields>,
        FaultPlan.ShapedBody {
  private static final AtomicReferenceFieldUpdater<Attempt, @Nullable Throwable> ABORT =
      AtomicReferenceFieldUpdater.newUpdater(Attempt.class, Throwable.class, "abortCause");

  private final Exchange exchange;
  private final ProxyContext ctx;
  private final org.eclipse.jetty.server.Request clientRequest;
  private final org.eclipse.jetty.server.Response clientResponse;
  private final HttpRoute route;
  private final RetryPolicy policy;
  private final @Nullable FaultPlan faults;
  private final Endpoint endpoint;

  /** What the try counts against its backend, begun last in the constructor, ended once. */
  private final TryTally tally;

  private final Destinations.Server server;

  /** The client's body this try sends; null for none. */
  private final @Nullable RequestBody body;

  /** The streamed body this try sends; null for a buffered body or none. */
  private @Nullable ProxyRequestContent streamed;

  final Request proxyRequest;

  /**
   * An abort that came before Jetty queued the proxy request. Jetty 12.1.14 loses an abort that
   * lands while its send() builds the request's exchange (listed in the conversation, whose
   * listeners are not yet set): an NPE in HttpExchange.notifyFailureComplete, no listener told, the
   * exchange never completes and the client gets no answer. So such an abort is made by the queued
   * notice.
   */
  private volatile @Nullable Throwable abortCause;

  private volatile boolean queued;
  private volatile boolean headForwarded;
  private volatile boolean responseSucceeded;
  private volatile boolean noBody;
  private final TryProgress progress = new TryProgress();

  /** The status the server answered this try with; 0 before (or without) a response head. */
  private volatile int serverStatus;

  /** Set when the try failed because its backend's host name did not resolve: says so. */
  private volatile Destinations.@Nullable Why why;

  /** When the proxy request was sent, then how long the server took to begin its response. */
  private volatile long serverHeadNanos;

  private volatile long bytesOut;
  private volatile @Nullable HttpFields serverTrailers;
  private final TryTimers timers;

  /**
   * Builds the try towards {@code endpoint}: the proxy request to {@code target} carrying the body,
   * and the endpoint's and the backend's counters begun.
   *
   * @param body the client's body, which this try sends as it is now; null for none
   */
  Attempt(
      Exchange exchange,
      ProxyContext ctx,
      org.eclipse.jetty.server.Request clientRequest,
      org.eclipse.jetty.server.Response clientResponse,
      HttpRoute route,
      RetryPolicy policy,
      @Nullable FaultPlan faults,
      Endpoint endpoint,
      String target,
      @Nullable RequestBody body) {
    this.exchange = exchange;
    this.policy = policy;
    this.ctx = ctx;
    this.clientRequest = clientRequest;
    this.clientResponse = clientResponse;
    this.route = route;
    this.faults = faults;
    this.endpoint = endpoint;
    this.body = body;
    this.server = ctx.destinations().server(endpoint);
    long responseMillis = ctx.timeouts().perTry(policy, route).toMillis();
    this.timers = new TryTimers(this, ctx.timeouts(), ctx.clientWatcher() != null, responseMillis);
    Request r =
        ctx.destinations()
            .newRequest(
                server,
                clientRequest.getMethod(),
                target,
                ctx.timeouts().proxyRequestIdleMillis(route, responseMillis));
    ProxyHeaders.tag(r, clientRequest, ctx.config().proxyProtocolOut());
    r.headers(this);
    String upgrade = Upgrades.requested(clientRequest, route);
    if (upgrade != null) {
      Upgrades.prepare(r, upgrade, this);
    }
    r.onRequestBegin(this);
    r.onRequestQueued(this);
    r.onRequestHeaders(this);
    long replayedBytes = 0;
    if (body != null) {
      streamed = body.attachTo(r);
      replayedBytes = body.replayedBytes();
    }
    this.proxyRequest = r;
    // begun last: a request that failed to build has nothing to end
    this.tally = TryTally.begin(endpoint, ctx.counters().backend(endpoint));
    if (replayedBytes > 0) {
      tally.bytesOut(replayedBytes);
    }
    if (body != null) {
      body.sendingTo(this);
    }
  }

  /**
   * Copies the client request's head into the proxy request's (run once, by {@link
   * Request#headers}).
   */
  @Override
  public void accept(HttpFields.Mutable out) {
    HeaderPolicy.proxyRequestHeaders(clientRequest, out, ctx.config(), route, exchange.record());
  }

  /**
   * Hands the proxy request to Jetty, with the try's timers: the per-try response timeout (after a
   * while of silence, the client's connection is watched too) and the route's connect timeout.
   */
  void send() {
    serverHeadNanos = System.nanoTime();
    if (!bodyArriving()) { // else the deadline starts when the client's body has arrived
      timers.armResponse();
    }
    if (route.connectTimeout != null) {
      timers.connectDeadline(route);
    }
    exchange.record().forwarded(endpoint.backend(), proxyRequest);
    ctx.destinations().send(server, proxyRequest, this);
  }

  /**
   * The client's body has arrived whole: the server's response deadline runs from now. A server
   * waiting for a slow client's body is not late; the request body deadline covers the client.
   */
  void bodyArrived() {
    timers.armResponse();
  }

  boolean bodyArriving() {
    RequestBody b = body;
    return b != null && b.arriving();
  }

  /** Whether the server's response began or the try ended: no deadline applies any more. */
  boolean responseBegunOrEnded() {
    return progress.isResponseBegun() || tally.ended();
  }

  /** The server has been silent for a while: the client's connection is watched. */
  void serverSilent() {
    exchange.watchClient();
  }

  /** The server did not begin its response within {@code timeout} ms: abort the try. */
  void responseDeadlinePassed(long timeout) {
    if (!progress.isResponseBegun()) {
      progress.timedOut();
      abort(new TimeoutException("no response within " + timeout + " ms"));
    }
  }

  /** No connection within the route's connect timeout: abort the try. */
  void connectDeadlinePassed() {
    if (!progress.requestBegun() && route.connectTimeout != null) {
      abort(
          new ConnectException("no connection within " + route.connectTimeout.toMillis() + " ms"));
    }
  }

  /** The whole-request timeout fired while this try was in flight or forwarding. */
  void requestTimedOut() {
    if (!responseSucceeded) {
      progress.timedOut();
      abort(new TimeoutException("request not complete within its request timeout"));
    }
  }

  /** Aborts the proxy request, now or when Jetty has queued it (see {@link #abortCause}). */
  void abort(Throwable cause) {
    // else onQueued aborts, or an abort came first
    if (ABORT.compareAndSet(this, null, cause) && queued) {
      proxyRequest.abort(cause);
    }
  }

  @Override
  public void onQueued(Request request) {
    queued = true;
    Throwable cause = abortCause;
    if (cause != null) {
      request.abort(cause);
    }
  }

  /**
   * The try got a connection and starts writing: note whether the connection served requests
   * before.
   */
  @Override
  public void onBegin(Request request) {
    // Jetty counts the request being sent: more than one means a pooled connection was reused
    progress.connected(request.getConnection() instanceof Connection c && c.getMessagesOut() > 1);
    server.connected();
    exchange.releasePending();
    timers.connected();
  }

  @Override
  public void onHeaders(Request request) {
    progress.headMayBeWritten();
  }

  /**
   * Whether what this try sends of a streamed body must be kept for a stale-connection retry: only
   * on a reused connection, and before its response began.
   */
  boolean keepsForReplay() {
    return progress.keepsForReplay();
  }

  /** {@code n} bytes of the client's body went (or go again) to this try's backend. */
  void sentBytes(int n) {
    tally.bytesOut(n);
  }

  // --- server -> proxy -> client

  @Override
  public void onBegin(Response serverResponse) {
    progress.responseBegun();
    timers.responseBegun();
    ProxyRequestContent s = streamed;
    if (s != null) {
      s.dropReplay(); // a try whose response began is never made again
    }
  }

  @Override
  public void onHeaders(Response serverResponse) {
    int status = serverResponse.getStatus();
    serverStatus = status;
    HttpProxyStats.RetryReason reason = RetryLoop.responseReason(policy, serverResponse);
    if (reason != null && exchange.mayRetry(reason)) {
      if (status >= 500) {
        tally.failed(); // outlier detection sees it as forwardHead would have
      }
      progress.retryResponse(reason, status);
      // then onComplete
      serverResponse.abort(new IOException("meshlet: retrying after status " + status));
      return;
    }
    forwardHead(serverResponse);
  }

  /**
   * Forwards the server's response head; false when it was refused or another answer came first.
   */
  private boolean forwardHead(Response serverResponse) {
    int status = serverResponse.getStatus();
    String badFraming = ResponseCheck.problem(serverResponse);
    if (badFraming != null) {
      // bad framing or a stray 1xx (101 to a request that asked no upgrade): 502, never forwarded
      serverResponse.abort(new IOException("meshlet: backend response refused: " + badFraming));
      return false;
    }
    if (!exchange.claim()) {
      serverResponse.abort(new IOException("meshlet: answered already"));
      return false;
    }
    headForwarded = true;
    noBody = status == 204 || status == 304 || HttpMethod.HEAD.is(clientRequest.getMethod());
    serverHeadNanos = System.nanoTime() - serverHeadNanos;
    // feeds the cluster's outlier detection: a server error counts against the backend at once; a
    // success only once the whole response came (onSuccess), so a backend that dies mid-body counts
    if (status >= 500) {
      tally.failed();
    }
    clientResponse.setStatus(status);
    if (HeaderPolicy.clientResponseHeaders(
        serverResponse, clientResponse.getHeaders(), ctx.config(), route)) {
      clientResponse.setTrailersSupplier(this);
    }
    return true;
  }

  /** The server's trailers to pass on to the client (a chunked response). */
  @Override
  public @Nullable HttpFields get() {
    return HeaderPolicy.clientResponseTrailers(serverTrailers, ctx.config(), route);
  }

  @Override
  public void onContent(Response serverResponse, Content.Chunk chunk, Runnable demander) {
    FaultPlan plan = faults;
    ByteBuffer buffer = chunk.getByteBuffer();
    if (plan != null && plan.shapesResponse()) {
      tally.bytesIn(buffer.remaining());
      plan.shape(clientRequest, clientResponse, ctx.timeouts().scheduler(), chunk, demander, this);
      return;
    }
    int n = buffer.remaining();
    if (noBody) {
      buffer.position(buffer.limit()); // 204, 304 or HEAD: whatever the backend sent is not a body
      demander.run();
      return;
    }
    bytesOut += n;
    tally.bytesIn(n);
    chunk.retain();
    clientResponse.write(
        false,
        buffer,
        new Callback() {
          @Override
          public void succeeded() {
            chunk.release();
            demander.run();
          }

          @Override
          public void failed(Throwable x) {
            chunk.release();
            clientFailed(x);
          }

          @Override
          public Invocable.InvocationType getInvocationType() {
            return Invocable.InvocationType.NON_BLOCKING;
          }
        });
  }

  @Override
  public void written(int n) {
    bytesOut += n;
  }

  /** Cannot write to the client: abort towards the server (not the backend's fault). */
  @Override
  public void clientFailed(Throwable failure) {
    exchange.client().left();
    proxyRequest.abort(failure);
  }

  /**
   * The abort-body fault cut the client response: end the exchange, then drop the proxy request.
   */
  @Override
  public void cut(IOException why) {
    exchange.client().cut(); // the abort below is ours, not the backend's fault
    exchange.finish(clientResponse.getStatus(), HttpProxyStats.ErrorKind.UPSTREAM_ABORTED, why);
    proxyRequest.abort(why);
  }

  @Override
  public void onSuccess(Response serverResponse) {
    responseSucceeded = true;
    serverStatus = serverResponse.getStatus();
    ByteBuffer last = BufferUtil.EMPTY_BUFFER;
    if (!headForwarded) {
      // A final response to "Expect: 100-continue" arrives here already buffered by Jetty.
      if (!forwardHead(serverResponse)) {
        tally.failed();
        exchange.sendError(502, HttpProxyStats.ErrorKind.BAD_GATEWAY, false);
        return;
      }
      if (serverResponse instanceof ContentResponse cr && cr.getContent().length > 0) {
        last = ByteBuffer.wrap(cr.getContent());
        bytesOut += last.remaining();
      }
    }
    tally.succeeded(); // the whole response came; a no-op after a server error's failure
    HttpFields trailers = serverResponse.getTrailers();
    if (trailers != null && trailers.size() > 0) {
      serverTrailers = trailers;
    }
    int status = serverResponse.getStatus();
    FaultPlan plan = faults;
    long delay = plan == null ? 0 : plan.takeResponseDelay();
    if (delay > 0) { // a response delay and no body written yet
      ByteBuffer lastBuffer = last;
      ctx.timeouts().afterNanos(delay, () -> writeLast(status, lastBuffer));
      return;
    }
    writeLast(status, last);
  }

  private void writeLast(int status, ByteBuffer last) {
    clientResponse.write(
        true,
        last,
        Callback.from(
            () -> exchange.finish(status, null, null),
            x -> exchange.finish(status, HttpProxyStats.ErrorKind.CLIENT_ABORTED, x)));
  }

  @Override
  public void onComplete(Result result) {
    Throwable failure = result.getResponseFailure();
    if (failure == null && responseSucceeded) {
      return; // the last write's callback finishes the exchange
    }
    if (failure == null) {
      failure = result.getFailure();
    }
    if (failure == null) {
      failure = new IllegalStateException("proxy request failed");
    }
    // a TLS handshake fails after the request began: Jetty writes it as the connection opens
    why = server.diagnose(endpoint.backend().displayName(), failure, !progress.requestBegun());
    HttpProxyStats.RetryReason retried = progress.responseRetry();
    if (retried != null) { // mayRetry allowed it at the response head
      exchange.retry(this, retried);
      return;
    }
    HttpProxyStats.RetryReason reason =
        headForwarded ? null : progress.retryReason(failure, clientRequest.getMethod());
    if (reason != null && exchange.mayRetry(reason)) {
      exchange.retry(this, reason);
      return;
    }
    exchange.tryFailed(this, failure);
  }

  // --- what the exchange reads once the try is over

  /** Whether this try forwarded the server's response head (it holds the answer). */
  boolean headForwarded() {
    return headForwarded;
  }

  /** Why the try failed, when its host did not resolve or its TLS handshake failed; else null. */
  Destinations.@Nullable Why why() {
    return why;
  }

  /** The status the server answered with; 0 when no response head came. */
  int serverStatus() {
    return serverStatus;
  }

  /** Whether the try failed by a timeout of its own or of the request. */
  boolean timedOut() {
    return progress.isTimedOut();
  }

  /** The backend failed this try: outlier detection counts it. */
  void backendFailed() {
    tally.failed();
  }

  /** The backend switched protocols: the exchange answers its 101 and opens a {@link Tunnel}. */
  void upgraded(Response serverResponse, EndPoint backend, Callback callback) {
    serverStatus = serverResponse.getStatus();
    progress.responseBegun();
    headForwarded = true;
    timers.cancel();
    serverHeadNanos = System.nanoTime() - serverHeadNanos;
    Tunnel.open(
        exchange,
        clientRequest,
        clientResponse,
        serverResponse,
        backend,
        ctx.config(),
        route,
        ctx.tunnels().of(route),
        callback);
  }

  /** Whether the try is over for its counters ({@link #endForRetry} or {@link #end} ran). */
  boolean ended() {
    return tally.ended();
  }

  /** Ends a failed try that is retried: its counters end here, the exchange's go on. */
  void endForRetry(HttpProxyStats.RetryReason reason) {
    timers.cancel();
    tally.endForRetry(reason, progress.retriedStatus());
  }

  /** Ends the try with its exchange: its counters get the exchange's outcome and bytes. */
  void end(int status, HttpProxyStats.@Nullable ErrorKind kind, long in, long out) {
    timers.cancel();
    tally.end(status, kind, in, out);
  }

  /** The body bytes this try wrote to the client. */
  long bytesOut() {
    return bytesOut;
  }

  /**
   * How long the server took to begin its response, in microseconds; -1 when no head was forwarded.
   */
  long serverHeadMicros() {
    return headForwarded ? serverHeadNanos / 1000 : -1;
  }

  /** The endpoint this try went to. */
  Endpoint endpoint() {
    return endpoint;
  }
}
