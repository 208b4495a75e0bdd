package dev.meshlet.l7;

import dev.meshlet.core.Endpoint;
import dev.meshlet.core.internal.Lease;
import java.io.IOException;
import java.net.ConnectException;
import java.nio.ByteBuffer;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicIntegerFieldUpdater;
import java.util.concurrent.atomic.AtomicReferenceFieldUpdater;
import java.util.function.Consumer;
import java.util.function.Supplier;
import org.eclipse.jetty.client.ContentResponse;
import org.eclipse.jetty.client.Request;
import org.eclipse.jetty.client.Response;
import org.eclipse.jetty.client.Result;
import org.eclipse.jetty.http.HttpFields;
import org.eclipse.jetty.http.HttpMethod;
import org.eclipse.jetty.http.HttpVersion;
import org.eclipse.jetty.io.Connection;
import org.eclipse.jetty.io.Content;
import org.eclipse.jetty.util.BufferUtil;
import org.eclipse.jetty.util.Callback;
import org.eclipse.jetty.util.thread.Invocable;
import org.eclipse.jetty.util.thread.Scheduler;
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
 * cannot be written to). Every call on the endpoint ({@code begin}, {@code end}, {@code succeeded},
 * {@code failed}, bytes) is made here.
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
  private static final AtomicIntegerFieldUpdater<Attempt> ARMED =
      AtomicIntegerFieldUpdater.newUpdater(Attempt.class, "responseTimerArmed");

  /**
   * How much longer than the response deadline a proxy request may stay idle, so that the deadline
   * decides.
   */
  private static final long IDLE_MARGIN_MILLIS = 1000;

  private final Exchange exchange;
  private final ProxyContext ctx;
  private final org.eclipse.jetty.server.Request clientRequest;
  private final org.eclipse.jetty.server.Response clientResponse;
  private final HttpRoute route;
  private final RetryPolicy policy;
  private final @Nullable FaultPlan faults;
  private final Endpoint endpoint;

  /**
   * The try in flight on {@link #endpoint}, begun last in the constructor; its outcome is reported
   * once.
   */
  private final Lease lease;

  private final Counters backendCounters;
  private final Destinations.Server server;

  /** The client's body this try sends; null for none. */
  private final @Nullable RequestBody body;

  /** How long the server may take to begin its response once it has the whole request, in ms. */
  private final long responseMillis;

  /** The streamed body this try sends; null for a buffered body or none. */
  private @Nullable ProxyRequestContent streamed;

  /** The id sent in X-Request-ID when the client sent none; null until the head is built. */
  private @Nullable String requestId;

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
  private volatile boolean requestBegun;
  private volatile boolean reusedConnection;

  /**
   * The proxy request's head was handed to the connection to be written: from then on the backend
   * may have all of it. Set when Jetty is about to write the head (its "headers" event), not when
   * the write has completed ("commit"): that notice can come after the backend has read the whole
   * request, closed, and the failure was seen.
   */
  private volatile boolean headMayBeWritten;

  private volatile boolean responseBegun;
  private volatile boolean timedOut;
  private volatile boolean headForwarded;
  private volatile boolean responseSucceeded;
  private volatile boolean noBody;

  /**
   * Set when a status listed by the retry policy is to be retried: the abort that follows is ours.
   */
  private volatile int retryStatus;

  /** The status the server answered this try with; 0 before (or without) a response head. */
  private volatile int serverStatus;

  /** Set when the try failed because its backend's host name did not resolve: says so. */
  private volatile @Nullable String unresolved;

  /**
   * 1 once the response deadline runs: from the send, or from the end of a client body still
   * arriving.
   */
  private volatile int responseTimerArmed;

  /** When the proxy request was sent, then how long the server took to begin its response. */
  private volatile long serverHeadNanos;

  private volatile long bytesOut;
  private volatile @Nullable HttpFields serverTrailers;
  private Scheduler.@Nullable Task responseTimeout;
  private Scheduler.@Nullable Task connectTimeout;

  /**
   * Ended by {@link #endForRetry} or {@link #end}; read only after the exchange's state changed.
   */
  private boolean ended;

  /**
   * Builds the try towards {@code endpoint}: the proxy request to {@code target} carrying the body,
   * and the endpoint's and the backend's counters begun.
   *
   * @param requestId the X-Request-ID an earlier try generated; null if none did
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
      @Nullable String requestId,
      @Nullable RequestBody body) {
    this.exchange = exchange;
    this.policy = policy;
    this.ctx = ctx;
    this.clientRequest = clientRequest;
    this.clientResponse = clientResponse;
    this.route = route;
    this.faults = faults;
    this.endpoint = endpoint;
    this.requestId = requestId;
    this.body = body;
    this.server = ctx.destinations().server(endpoint);
    Request r =
        ctx.client()
            .newRequest(server.uri)
            .method(clientRequest.getMethod())
            .version(HttpVersion.HTTP_1_1)
            .path(target);
    r.headers(this);
    r.onRequestBegin(this);
    r.onRequestQueued(this);
    r.onRequestHeaders(this);
    this.responseMillis = ctx.timeouts().perTry(policy, route).toMillis();
    // Jetty applies the idle timeout while a try waits for its response too: unless the route sets
    // one, it is kept longer than the response deadline, so that the deadline decides (both ways).
    long idle =
        route.idleTimeout != null
            ? route.idleTimeout.toMillis()
            : Math.max(
                ctx.config().upstreamIdleTimeout().toMillis(), responseMillis + IDLE_MARGIN_MILLIS);
    r.idleTimeout(idle, TimeUnit.MILLISECONDS);
    long replayedBytes = 0;
    if (body != null) {
      Request.Content content = body.content();
      r.body(content);
      if (content instanceof ProxyRequestContent s) {
        streamed = s;
        r.attribute(ProxyRequestContent.ATTRIBUTE, s); // opened by the backend's 100 Continue
      }
      Supplier<@Nullable HttpFields> trailers = body.trailersSupplier();
      if (trailers != null) {
        r.trailersSupplier(trailers);
      }
      replayedBytes = body.replayedBytes();
    }
    this.proxyRequest = r;
    // begun last: a request that failed to build has nothing to end
    this.backendCounters = ctx.counters().backend(endpoint);
    this.lease = Lease.begin(endpoint);
    backendCounters.begin();
    if (replayedBytes > 0) {
      lease.bytesOut(replayedBytes);
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
    requestId =
        HeaderPolicy.proxyRequestHeaders(clientRequest, out, ctx.config(), route, requestId);
  }

  /** The X-Request-ID this try sent for the client; null when the client sent its own. */
  @Nullable String requestId() {
    return requestId;
  }

  /**
   * Hands the proxy request to Jetty, with the try's timers: the per-try response timeout (after a
   * while of silence, the client's connection is watched too) and the route's connect timeout.
   */
  void send() {
    serverHeadNanos = System.nanoTime();
    if (!bodyArriving()) { // else the deadline starts when the client's body has arrived
      armResponseTimeout();
    }
    if (route.connectTimeout != null) {
      connectTimeout = ctx.timeouts().connect(route, this::onConnectTimeout);
    }
    ctx.destinations().send(server, proxyRequest, this);
  }

  /**
   * The client's body has arrived whole: the server's response deadline runs from now. A server
   * waiting for a slow client's body is not late; the request body deadline covers the client.
   */
  void bodyArrived() {
    armResponseTimeout();
  }

  private boolean bodyArriving() {
    RequestBody b = body;
    return b != null && b.arriving();
  }

  private void armResponseTimeout() {
    long timeout = responseMillis;
    if (timeout <= 0 || responseBegun || ended || !ARMED.compareAndSet(this, 0, 1)) {
      return;
    }
    Timeouts timeouts = ctx.timeouts();
    if (timeout > Timeouts.WATCH_AFTER_MILLIS && ctx.clientWatcher() != null) {
      long rest = timeout - Timeouts.WATCH_AFTER_MILLIS;
      responseTimeout =
          timeouts.afterMillis(Timeouts.WATCH_AFTER_MILLIS, () -> onServerSilent(rest, timeout));
    } else {
      responseTimeout = timeouts.afterMillis(timeout, () -> onResponseTimeout(timeout));
    }
  }

  /** The server has been silent for a while: watch the client's connection, then keep waiting. */
  private void onServerSilent(long rest, long timeout) {
    if (responseBegun || ended) {
      return;
    }
    exchange.watchClient();
    responseTimeout = ctx.timeouts().afterMillis(rest, () -> onResponseTimeout(timeout));
  }

  private void onResponseTimeout(long timeout) {
    if (bodyArriving()) { // the body began to flow after the send (a 100 Continue): wait for it
      ARMED.set(this, 0);
      if (!bodyArriving()) {
        armResponseTimeout();
      }
      return;
    }
    if (!responseBegun) {
      timedOut = true;
      abort(new TimeoutException("no response within " + timeout + " ms"));
    }
  }

  private void onConnectTimeout() {
    if (!requestBegun && route.connectTimeout != null) {
      abort(
          new ConnectException("no connection within " + route.connectTimeout.toMillis() + " ms"));
    }
  }

  /** The whole-request timeout fired while this try was in flight or forwarding. */
  void requestTimedOut() {
    if (!responseSucceeded) {
      timedOut = true;
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
    requestBegun = true;
    server.connected();
    exchange.releasePending();
    Timeouts.cancel(connectTimeout);
    // Jetty counts the request being sent: more than one means a pooled connection was reused
    reusedConnection = request.getConnection() instanceof Connection c && c.getMessagesOut() > 1;
  }

  @Override
  public void onHeaders(Request request) {
    headMayBeWritten = true;
  }

  /**
   * Whether what this try sends of a streamed body must be kept for a stale-connection retry: only
   * on a reused connection, and before its response began.
   */
  boolean keepsForReplay() {
    return reusedConnection && !responseBegun;
  }

  /** {@code n} bytes of the client's body went (or go again) to this try's backend. */
  void sentBytes(int n) {
    lease.bytesOut(n);
  }

  // --- server -> proxy -> client

  @Override
  public void onBegin(Response serverResponse) {
    responseBegun = true;
    Timeouts.cancel(responseTimeout);
    ProxyRequestContent s = streamed;
    if (s != null) {
      s.dropReplay(); // a try whose response began is never made again
    }
  }

  @Override
  public void onHeaders(Response serverResponse) {
    int status = serverResponse.getStatus();
    serverStatus = status;
    if (policy.retriesStatus(status) && exchange.mayRetry(HttpProxyStats.RetryReason.STATUS)) {
      if (status >= 500) {
        lease.failed(); // outlier detection sees it as forwardHead would have
      }
      retryStatus = status;
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
      lease.failed();
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
      lease.bytesIn(buffer.remaining());
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
    lease.bytesIn(n);
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
        lease.failed();
        exchange.sendError(502, HttpProxyStats.ErrorKind.BAD_GATEWAY, false);
        return;
      }
      if (serverResponse instanceof ContentResponse cr && cr.getContent().length > 0) {
        last = ByteBuffer.wrap(cr.getContent());
        bytesOut += last.remaining();
      }
    }
    lease.succeeded(); // the whole response came; a no-op after a server error's failure
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
    if (!requestBegun) {
      unresolved = server.unresolved(endpoint.backend().displayName(), failure);
    }
    if (retryStatus != 0) {
      exchange.retry(this, HttpProxyStats.RetryReason.STATUS);
      return;
    }
    HttpProxyStats.RetryReason reason = headForwarded ? null : retryReason(failure);
    if (reason != null && exchange.mayRetry(reason)) {
      exchange.retry(this, reason);
      return;
    }
    exchange.tryFailed(this, failure);
  }

  /** What went wrong with this try, as a retry reason; null when it must not be retried. */
  private HttpProxyStats.@Nullable RetryReason retryReason(Throwable failure) {
    if (failure instanceof RejectedExecutionException || responseBegun) {
      return null;
    }
    if (timedOut) {
      return HttpProxyStats.RetryReason.PER_TRY_TIMEOUT;
    }
    if (!requestBegun) {
      return HttpProxyStats.RetryReason.CONNECT_FAILURE;
    }
    if (reusedConnection
        && failure instanceof IOException
        && (RetryPolicy.idempotent(clientRequest.getMethod()) || !headMayBeWritten)) {
      // The keep-alive race, retried whatever the policy. The backend may have received a request
      // whose head was written and acted on it before closing, so a non-idempotent one (RFC 9110
      // §9.2.2) is a stale retry only when none of it was written; otherwise the policy decides.
      return HttpProxyStats.RetryReason.STALE_CONNECTION;
    }
    return HttpProxyStats.RetryReason.RESET;
  }

  // --- what the exchange reads once the try is over

  /** Whether this try forwarded the server's response head (it holds the answer). */
  boolean headForwarded() {
    return headForwarded;
  }

  /** Why the try failed when its backend's host name did not resolve; null otherwise. */
  @Nullable String unresolved() {
    return unresolved;
  }

  /** The status the server answered with; 0 when no response head came. */
  int serverStatus() {
    return serverStatus;
  }

  /** Whether the try failed by a timeout of its own or of the request. */
  boolean timedOut() {
    return timedOut;
  }

  /** The backend failed this try: outlier detection counts it. */
  void backendFailed() {
    lease.failed();
  }

  /** Whether the try is over for its counters ({@link #endForRetry} or {@link #end} ran). */
  boolean ended() {
    return ended;
  }

  /** Ends a failed try that is retried: its counters end here, the exchange's go on. */
  void endForRetry(HttpProxyStats.RetryReason reason) {
    ended = true;
    Timeouts.cancel(responseTimeout);
    Timeouts.cancel(connectTimeout);
    switch (reason) {
      case CONNECT_FAILURE, RESET, PER_TRY_TIMEOUT -> lease.failed(); // STATUS counted in onHeaders
      default -> {}
    }
    lease.close();
    if (reason == HttpProxyStats.RetryReason.PER_TRY_TIMEOUT) {
      backendCounters.error(HttpProxyStats.ErrorKind.GATEWAY_TIMEOUT);
    } else if (reason != HttpProxyStats.RetryReason.STATUS) {
      backendCounters.error(HttpProxyStats.ErrorKind.BAD_GATEWAY);
    }
    backendCounters.end(retryStatus);
  }

  /**
   * Ends the try with its exchange: the backend's counters get the exchange's outcome and bytes.
   */
  void end(int status, HttpProxyStats.@Nullable ErrorKind kind, long in, long out) {
    ended = true;
    Timeouts.cancel(responseTimeout);
    Timeouts.cancel(connectTimeout);
    if (kind != null) {
      backendCounters.error(kind);
    }
    backendCounters.bytesIn(in);
    backendCounters.bytesOut(out);
    backendCounters.end(status);
    lease.close();
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
