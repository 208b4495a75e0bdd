package dev.meshlet.l7;

import dev.meshlet.core.Cluster;
import dev.meshlet.core.Endpoint;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import org.eclipse.jetty.client.ContentResponse;
import org.eclipse.jetty.client.Result;
import org.eclipse.jetty.http.HttpException;
import org.eclipse.jetty.http.HttpField;
import org.eclipse.jetty.http.HttpFields;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.http.HttpMethod;
import org.eclipse.jetty.http.HttpURI;
import org.eclipse.jetty.http.HttpVersion;
import org.eclipse.jetty.io.Content;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.BufferUtil;
import org.eclipse.jetty.util.Callback;
import org.eclipse.jetty.util.thread.Invocable;
import org.eclipse.jetty.util.thread.Scheduler;
import org.jspecify.annotations.Nullable;

/**
 * One proxied request and its four legs: client→proxy ({@code request}), proxy→server
 * ({@code upstream}), server→proxy (this listener's callbacks) and proxy→client ({@code response}).
 *
 * <p>Everything here runs on Jetty's callbacks; nothing waits. The Jetty {@code callback} is completed
 * exactly once, in {@link #finish}, after the last write to the client completed or failed.
 */
final class Exchange implements org.eclipse.jetty.client.Response.Listener {
  private static final char[] HEX = "0123456789abcdef".toCharArray();
  private static final String X_REQUEST_ID = "X-Request-ID";

  private final ForwardingHandler handler;
  private final ProxyConfig config;
  private final Request request;
  private final Response response;
  private final Callback callback;
  private final long startNanos = System.nanoTime();
  private final AtomicBoolean finished = new AtomicBoolean();

  private @Nullable HttpRoute route;
  private @Nullable Counters routeCounters;
  private @Nullable Endpoint endpoint;
  private @Nullable Counters backendCounters;
  /** The current try's backend address, as the upstream client sees it. */
  private ForwardingHandler.@Nullable Upstream backend;
  private org.eclipse.jetty.client.@Nullable Request upstream;
  private @Nullable UpstreamBody body;
  private Scheduler.@Nullable Task responseTimeout;
  private volatile long upstreamHeadNanos;
  private volatile boolean responseBegun;
  private volatile boolean headForwarded;
  private volatile boolean responseSucceeded;
  private volatile boolean clientGone;
  private volatile boolean clientBodyFailed;
  private volatile boolean noBody;
  private volatile boolean requestBodyRead;
  private volatile ClientWatcher.@Nullable Watch clientWatch;
  private long silentRest;
  private volatile int silentAttempt;
  private volatile boolean timedOut;
  private volatile @Nullable HttpFields upstreamTrailers;
  private volatile @Nullable HttpFields requestTrailers;
  private volatile long bytesIn;
  private volatile long bytesOut;
  /** Numbered from 1 in arrival order, for the journal and the fault draws. */
  private final long requestId;
  /** The journal's generation when the request arrived: nothing of it is journaled after a clear. */
  private final long journalGeneration;
  /** The faults drawn for this request; null (the usual case) when none applies. */
  private volatile @Nullable FaultPlan faults;

  // --- retries, timeouts, circuit breaking (issue 6)
  /** The cluster whose circuit breaker admitted this request; released in {@link #finish}. */
  private @Nullable Cluster cluster;
  private RetryPolicy policy = RetryPolicy.none();
  private long key;
  private String target = "/";
  /** Tries made before the current one. */
  private int attempt;
  private int staleRetries;
  /** The whole request body, when buffered for replay; null when streamed or absent. */
  private byte @Nullable [] replayBuffer;
  private int replayLength;
  private @Nullable Endpoint firstEndpoint;
  private volatile boolean requestBegun;
  private volatile boolean reusedConnection;
  /**
   * The current try's request head was handed to the connection to be written: from then on the
   * backend may have all of it. Set when Jetty is about to write the head (its "headers" event), not
   * when the write has completed ("commit"): that notice can come after the backend has read the
   * whole request, closed, and the failure was seen.
   */
  private volatile boolean headMayBeWritten;
  private volatile HttpProxyStats.@Nullable RetryReason retryReason;
  private volatile boolean totalTimedOut;
  private volatile int retryStatus;
  private boolean holdsRetryBudget;
  /** 1 while the current try holds a place in the cluster's pending limit (waits for a connection). */
  private volatile int pendingHeld;
  private static final java.util.concurrent.atomic.AtomicIntegerFieldUpdater<Exchange> PENDING =
      java.util.concurrent.atomic.AtomicIntegerFieldUpdater.newUpdater(Exchange.class, "pendingHeld");
  /**
   * The current try's hand-over to Jetty, raced against the request timeout: {@link #NOT_SENT},
   * {@link #SENT} (send() won: the timeout aborts the upstream request) or {@link #TIMED_OUT} (the
   * timeout won before anything went upstream: it answers 504 itself and nothing is sent). Whoever
   * else answers before the hand-over (send()'s 503 or 400, a bad body's 400) takes SENT first, and a
   * try being set up holds SENT too (see {@link #newUpstream}): only one answer is ever written.
   */
  private volatile int sendState;
  private static final int NOT_SENT = 0;
  private static final int SENT = 1;
  private static final int TIMED_OUT = 2;
  private static final java.util.concurrent.atomic.AtomicIntegerFieldUpdater<Exchange> SEND_STATE =
      java.util.concurrent.atomic.AtomicIntegerFieldUpdater.newUpdater(Exchange.class, "sendState");
  /** The current try's hand-over, for {@link #abortUpstream}. */
  private volatile @Nullable Handover handover;
  private Scheduler.@Nullable Task totalTimeout;
  private Scheduler.@Nullable Task connectTimeout;
  private volatile Scheduler.@Nullable Task backoff;
  private @Nullable String generatedRequestId;

  Exchange(ForwardingHandler handler, Request request, Response response, Callback callback) {
    this.requestId = handler.requestIds.incrementAndGet();
    this.journalGeneration = handler.journal.generation();
    this.handler = handler;
    this.config = handler.config;
    this.request = request;
    this.response = response;
    this.callback = callback;
  }

  void start() {
    handler.total.begin();
    HeadDeadline deadline = handler.headDeadline;
    if (deadline != null && !deadline.headArrived(request.getConnectionMetaData().getConnection())) {
      finish(0, HttpProxyStats.ErrorKind.REQUEST_TIMEOUT, new TimeoutException("request head deadline"));
      return;
    }
    if (HttpMethod.CONNECT.is(request.getMethod())) {
      sendError(405, HttpProxyStats.ErrorKind.METHOD_NOT_ALLOWED, true);
      return;
    }
    if (!TargetCheck.methodForwardable(request.getMethod())) {
      // methods are case-sensitive and the upstream client would upper-case "get" into GET: refuse it
      sendError(400, HttpProxyStats.ErrorKind.BAD_REQUEST, true);
      return;
    }
    if (!framingIsUnambiguous()) {
      sendError(400, HttpProxyStats.ErrorKind.BAD_REQUEST, true);
      return;
    }
    HttpURI uri = request.getHttpURI();
    String rawPath = uri.getPath();
    String query = uri.getQuery();
    if (rawPath == null || rawPath.isEmpty() || rawPath.charAt(0) != '/') {
      // asterisk-form (OPTIONS *) or an authority-form target has nothing a backend could serve
      sendError(400, HttpProxyStats.ErrorKind.BAD_REQUEST, true);
      return;
    }
    if (rawPath.length() + (query == null ? 0 : query.length() + 1) > config.maxUriLength()) {
      sendError(414, HttpProxyStats.ErrorKind.URI_TOO_LONG, true);
      return;
    }
    if (!TargetCheck.percentEncodingValid(rawPath, query)
        || config.rejectUnderscoreHeaders() && hasUnderscoreHeader()) {
      // the client's fault: answered here, before any backend is picked or dialed
      sendError(400, HttpProxyStats.ErrorKind.BAD_REQUEST, true);
      return;
    }
    String canonical = uri.getCanonicalPath();
    if (canonical == null) {
      canonical = rawPath;
    }
    RouteTable table = handler.resilience.table; // read once: a live update swaps it whole
    RequestHead head = HeadView.of(request, canonical);
    HttpRoute chosen = table.route(head);
    if (chosen == null) {
      sendError(404, HttpProxyStats.ErrorKind.NO_ROUTE, false);
      return;
    }
    Cluster cluster = chosen.pickCluster(); // a split draws one here
    route = chosen;
    Counters rc = handler.routeCounters(chosen);
    rc.begin();
    routeCounters = rc;

    FaultPlan plan = FaultPlan.decide(table.faults(chosen), head, requestId, handler.faultSeed, handler.journal,
        journalGeneration);
    if (plan != null) {
      faults = plan;
      if (plan.abortStatus > 0) {
        sendFault(plan.abortStatus);
        return;
      }
    }

    if (!cluster.tryAcquire()) { // the circuit breaker: refuse at once, say why
      sendOverflow(HttpProxyStats.ErrorKind.OVERFLOW, "cluster " + cluster.name() + " max requests");
      return;
    }
    this.cluster = cluster;
    Resilience res = handler.resilience;
    RetryPolicy p = chosen.retryPolicy != null ? chosen.retryPolicy : res.retryPolicy;
    policy = p;
    key = clientKey();
    Endpoint picked = cluster.pick(key);
    if (picked == null) {
      sendError(503, HttpProxyStats.ErrorKind.NO_BACKEND, false);
      return;
    }

    String t = chosen.rewritePath(rawPath, canonical);
    if (query != null) {
      t = t + '?' + query;
    }
    target = t;
    request.addFailureListener(this::onClientFailure);
    java.time.Duration whole = chosen.requestTimeout != null ? chosen.requestTimeout : res.requestTimeout;
    if (!whole.isZero()) {
      totalTimeout = handler.scheduler.schedule(this::onTotalTimeout, whole.toNanos(), TimeUnit.NANOSECONDS);
    }

    if (hasBody()) {
      boolean expectContinue = request.getHeaders().contains(HttpHeader.EXPECT, "100-continue")
          && request.getConnectionMetaData().getHttpVersion() != HttpVersion.HTTP_1_0;
      long length = request.getLength();
      if (p.retries() && !expectContinue && p.replayBufferBytes() > 0 && length <= p.replayBufferBytes()) {
        // retries on: read a body that fits the replay buffer whole before the first try
        replayBuffer = new byte[length >= 0 ? (int) length : Math.min(p.replayBufferBytes(), 8192)];
        firstEndpoint = picked;
        readBodyForReplay();
        return;
      }
      if (!newUpstream(picked)) {
        return;
      }
      // Wait for the backend's 100 only if Expect goes upstream: a client's "Connection: expect" or a
      // rewrite removing Expect strips it, and a backend never asked would never send the 100.
      boolean gated = expectContinue
          && java.util.Objects.requireNonNull(upstream).getHeaders().contains(HttpHeader.EXPECT, "100-continue");
      streamBody(gated);
      if (!gated) {
        readFirstChunkThenSend();
        return;
      }
      send();
      return;
    }
    if (newUpstream(picked)) {
      send();
    }
  }

  /**
   * Starts a try towards {@code picked}: its counters and a fresh upstream request, not yet sent.
   * False when the request timeout answered (before, or while this ran): nothing more to do.
   */
  private boolean newUpstream(Endpoint picked) {
    // Held SENT while the counters are begun: a timeout now only notes totalTimedOut (answered at the
    // end, below), so its finish() never runs before this try's counters are there to be ended.
    if (!SEND_STATE.compareAndSet(this, NOT_SENT, SENT) && sendState == TIMED_OUT) {
      return false; // the first try, and the timeout answered already: begin nothing
    }
    endpoint = picked;
    picked.begin();
    Counters bc = handler.backendCounters(picked);
    bc.begin();
    backendCounters = bc;
    ForwardingHandler.Upstream u = handler.upstream(picked);
    backend = u;
    org.eclipse.jetty.client.Request up = handler.client.newRequest(u.uri)
        .method(request.getMethod())
        .version(HttpVersion.HTTP_1_1)
        .path(target);
    up.headers(this::copyRequestHeaders);
    up.onRequestBegin(this::onRequestBegin);
    Handover h = new Handover(up);
    up.onRequestQueued(h);
    up.onRequestHeaders(x -> headMayBeWritten = true);
    HttpRoute r = route;
    if (r != null && r.idleTimeout != null) {
      up.idleTimeout(r.idleTimeout.toMillis(), TimeUnit.MILLISECONDS);
    }
    requestBegun = false;
    reusedConnection = false;
    headMayBeWritten = false;
    responseBegun = false;
    timedOut = false;
    retryReason = null;
    retryStatus = 0;
    byte[] replay = replayBuffer;
    handover = h;
    upstream = up;
    if (replay != null) {
      up.body(new org.eclipse.jetty.client.ByteBufferRequestContent((String) null, ByteBuffer.wrap(replay, 0, replayLength)));
      picked.bytesOut(replayLength);
    } else if (body != null) {
      attachBody(body); // a stale-connection retry of a streamed body: what was sent, then the rest
    }
    sendState = NOT_SENT;
    if (totalTimedOut && SEND_STATE.compareAndSet(this, NOT_SENT, TIMED_OUT)) {
      sendError(504, HttpProxyStats.ErrorKind.GATEWAY_TIMEOUT, false); // the timeout fired while this ran
      return false;
    }
    return true;
  }

  /**
   * The client's body streams to the backend as it arrives: not replayed, so not retried, except
   * after a stale pooled connection while what was sent of it fits {@link UpstreamBody#REPLAY_WINDOW}.
   */
  private void streamBody(boolean expectContinue) {
    attachBody(new UpstreamBody(this, request, expectContinue));
  }

  private void attachBody(UpstreamBody b) {
    org.eclipse.jetty.client.Request up = java.util.Objects.requireNonNull(upstream);
    body = b;
    up.body(b);
    if (request.getLength() < 0) {
      up.trailersSupplier(this::forwardedRequestTrailers); // chunked: pass the client's trailers on, filtered
    }
    up.attribute(EXCHANGE_ATTRIBUTE_UPSTREAM, this);
  }

  static final String EXCHANGE_ATTRIBUTE_UPSTREAM = "dev.meshlet.l7.upstream-exchange";

  private @Nullable HttpFields forwardedRequestTrailers() {
    HttpRoute r = route;
    return TrailerPolicy.filter(requestTrailers, config.requestHeaders(), r == null ? null : r.requestHeaders());
  }

  /**
   * Reads the body Jetty already has before dialing: a framing error in it is then answered 400 with
   * nothing sent upstream. One chunk is not enough for a chunked body: Jetty hands a chunk's data over
   * before it checks the CRLF after it, so a chunk longer than its size, a bad size after it or a
   * malformed trailer in the same packet would fail only once the request went upstream. So reads go
   * on until one finds nothing more, the last chunk, or {@link UpstreamBody#READ_AHEAD} bytes are held
   * (then it is sent, and a framing error after that aborts it). A Content-Length body has no framing
   * past its length: one chunk, as before.
   */
  private void readFirstChunkThenSend() {
    UpstreamBody b = java.util.Objects.requireNonNull(body);
    boolean holding = false;
    while (!finished.get()) {
      Content.Chunk chunk = request.read();
      if (chunk == null) {
        if (!holding) {
          request.demand(this::readFirstChunkThenSend);
          return;
        }
        break; // the sender reads on (and demands) from here
      }
      if (Content.Chunk.isFailure(chunk)) {
        bodyFailedEarly(chunk); // finish() releases what is held
        return;
      }
      holding = true;
      boolean last = chunk.isLast();
      if (b.pushBack(chunk) >= UpstreamBody.READ_AHEAD || last || request.getLength() >= 0) {
        break;
      }
    }
    if (finished.get()) { // a timeout's answer meanwhile: its finish() may have come before the last pushBack
      b.discard();
      return;
    }
    send();
  }

  private void send() {
    org.eclipse.jetty.client.Request up = upstream;
    if (up == null || finished.get()) {
      return;
    }
    FaultPlan plan = faults;
    if (plan != null && plan.requestDelayNanos > 0) { // a delay fault: send later, no thread waits
      long delay = plan.requestDelayNanos;
      plan.requestDelayNanos = 0;
      handler.scheduler.schedule(this::send, delay, TimeUnit.NANOSECONDS);
      return;
    }
    // decided before the pending gate and the client checks below, which answer the client too
    if (!SEND_STATE.compareAndSet(this, NOT_SENT, SENT)) { // the request timeout answered first
      return;
    }
    Cluster c = cluster;
    if (c != null) {
      if (!c.tryAcquirePending()) { // the pending circuit breaker: too many wait for a connection
        sendOverflow(HttpProxyStats.ErrorKind.PENDING_OVERFLOW, "cluster " + c.name() + " max pending requests");
        return;
      }
      PENDING.set(this, 1);
      if (finished.get()) { // finish() ran meanwhile (a timeout's 504): it released nothing
        releasePending();
        return;
      }
    }
    if (clientGone || clientBodyFailed) {
      endBetweenTries();
      return;
    }
    upstreamHeadNanos = System.nanoTime();
    long timeout = perTryTimeout().toMillis();
    if (timeout > 0) {
      if (timeout > WATCH_AFTER_MILLIS && handler.clientWatcher != null && clientWatch == null) {
        // the same one task first checks, once the backend has been silent a while, that the client is still there
        silentRest = timeout - WATCH_AFTER_MILLIS;
        silentAttempt = attempt;
        responseTimeout = handler.scheduler.schedule(this::onBackendSilent, WATCH_AFTER_MILLIS, TimeUnit.MILLISECONDS);
      } else {
        responseTimeout = handler.scheduler.schedule(this::onResponseTimeout, timeout, TimeUnit.MILLISECONDS);
      }
    }
    HttpRoute r = route;
    if (r != null && r.connectTimeout != null) {
      connectTimeout = handler.scheduler.schedule(this::onConnectTimeout, r.connectTimeout.toNanos(), TimeUnit.NANOSECONDS);
    }
    handler.send(java.util.Objects.requireNonNull(backend), up, this); // set with upstream by newUpstream
  }

  /**
   * Aborts a try's upstream request. Jetty 12.1.14 loses an abort that lands while its send() builds
   * the request's exchange (listed in the conversation, whose listeners are not yet set): an NPE in
   * HttpExchange.notifyFailureComplete, no listener told, the exchange never completes and the client
   * gets no answer. So an abort before Jetty queued the request is made by the queued notice instead.
   */
  private void abortUpstream(org.eclipse.jetty.client.Request up, Throwable cause) {
    Handover h = handover;
    if (h != null && h.request == up) {
      h.abort(cause);
    } else {
      up.abort(cause); // an earlier try's, sent and complete
    }
  }

  /** Whether Jetty has queued a try's request, and an abort that came before. */
  private static final class Handover extends java.util.concurrent.atomic.AtomicReference<@Nullable Throwable>
      implements org.eclipse.jetty.client.Request.QueuedListener {
    final org.eclipse.jetty.client.Request request;
    private volatile boolean queued;

    Handover(org.eclipse.jetty.client.Request request) {
      this.request = request;
    }

    @Override
    public void onQueued(org.eclipse.jetty.client.Request r) {
      queued = true;
      Throwable cause = get();
      if (cause != null) {
        r.abort(cause);
      }
    }

    void abort(Throwable cause) {
      if (compareAndSet(null, cause) && queued) { // else onQueued aborts, or an abort came first
        request.abort(cause);
      }
    }
  }

  /** How long a backend may be silent before the client's connection is watched for it leaving. */
  private static final long WATCH_AFTER_MILLIS = 200;

  /** The backend has been silent for a while: watch the client's connection, then keep waiting. */
  private void onBackendSilent() {
    if (responseBegun || finished.get() || attempt != silentAttempt) {
      return;
    }
    watchClient();
    responseTimeout = handler.scheduler.schedule(this::onResponseTimeout, silentRest, TimeUnit.MILLISECONDS);
  }

  private void watchClient() {
    ClientWatcher watcher = handler.clientWatcher;
    if (watcher == null || clientWatch != null || hasBody() && !requestBodyRead && replayBuffer == null) {
      return; // while Jetty still reads the body it sees the client leave by itself
    }
    if (request.getConnectionMetaData().getConnection().getEndPoint().getTransport()
        instanceof java.nio.channels.SocketChannel channel) {
      ClientWatcher.Watch w = watcher.watch(channel, this::onClientVanished);
      clientWatch = w;
      if (w != null && finished.get()) {
        w.cancel();
      }
    }
  }

  /** The client closed or reset its connection while the backend was silent: abort the upstream exchange. */
  private void onClientVanished() {
    if (finished.get()) {
      return;
    }
    clientGone = true;
    org.eclipse.jetty.io.EofException gone =
        new org.eclipse.jetty.io.EofException("client closed the connection while the backend was silent");
    // closed first, so that nothing (not Jetty's error page either) is written to a half-closed client
    request.getConnectionMetaData().getConnection().getEndPoint().close();
    Scheduler.Task b = backoff;
    org.eclipse.jetty.client.Request up = upstream;
    if (b != null && b.cancel()) {
      finish(0, HttpProxyStats.ErrorKind.CLIENT_ABORTED, gone); // between tries: nothing in flight upstream
    } else if (up != null) {
      abortUpstream(up, gone); // then onComplete finishes the exchange as CLIENT_ABORTED
    }
  }

  /** The client's request body was read to its end. */
  void requestBodyRead() {
    requestBodyRead = true;
  }

  private java.time.Duration perTryTimeout() {
    if (!policy.perTryTimeout().isZero()) {
      return policy.perTryTimeout();
    }
    HttpRoute r = route;
    return r != null && r.responseTimeout != null ? r.responseTimeout : config.responseTimeout();
  }

  private void onResponseTimeout() {
    org.eclipse.jetty.client.Request up = upstream;
    if (!responseBegun && up != null) {
      timedOut = true;
      abortUpstream(up, new TimeoutException("no response within " + perTryTimeout().toMillis() + " ms"));
    }
  }

  private void onConnectTimeout() {
    org.eclipse.jetty.client.Request up = upstream;
    HttpRoute r = route;
    if (!requestBegun && up != null && r != null && r.connectTimeout != null) {
      abortUpstream(up, new java.net.ConnectException("no connection within " + r.connectTimeout.toMillis() + " ms"));
    }
  }

  /** The try got a connection and starts writing: note whether the connection served requests before. */
  private void onRequestBegin(org.eclipse.jetty.client.Request up) {
    requestBegun = true;
    releasePending();
    Scheduler.Task t = connectTimeout;
    if (t != null) {
      t.cancel();
    }
    // Jetty counts the request being sent: more than one means a pooled connection was reused
    reusedConnection = up.getConnection() instanceof org.eclipse.jetty.io.Connection c && c.getMessagesOut() > 1;
  }

  private void onTotalTimeout() {
    totalTimedOut = true;
    Scheduler.Task b = backoff;
    if (b != null && b.cancel()) { // between tries: nothing in flight upstream
      sendError(504, HttpProxyStats.ErrorKind.GATEWAY_TIMEOUT, false);
      return;
    }
    org.eclipse.jetty.client.Request up = upstream;
    if (SEND_STATE.compareAndSet(this, NOT_SENT, TIMED_OUT)) {
      // nothing went upstream yet (a body still being read, a delay fault, a connection not yet
      // asked for): answer here; send() sees the state and sends nothing
      sendError(504, HttpProxyStats.ErrorKind.GATEWAY_TIMEOUT, false);
    } else if (up != null && !responseSucceeded) {
      timedOut = true;
      abortUpstream(up, new TimeoutException("request not complete within its request timeout"));
    }
  }

  /** Buffers a body that fits the replay buffer, then sends the first try; a larger one is streamed. */
  private void readBodyForReplay() {
    while (!finished.get()) {
      Content.Chunk chunk = request.read();
      if (chunk == null) {
        request.demand(this::readBodyForReplay);
        return;
      }
      if (Content.Chunk.isFailure(chunk)) {
        bodyFailedEarly(chunk);
        return;
      }
      byte[] buffer = java.util.Objects.requireNonNull(replayBuffer);
      if (chunk instanceof org.eclipse.jetty.http.Trailers trailers) {
        requestTrailers = trailers.getTrailers(); // not forwarded: a replayed body goes with Content-Length
      } else if (chunk.hasRemaining()) {
        int n = chunk.remaining();
        if ((long) replayLength + n > policy.replayBufferBytes()) {
          tooLargeToReplay(buffer, chunk);
          return;
        }
        if (replayLength + n > buffer.length) {
          buffer = java.util.Arrays.copyOf(buffer, Math.min(policy.replayBufferBytes(), Math.max(replayLength + n, buffer.length * 2)));
          replayBuffer = buffer;
        }
        chunk.getByteBuffer().get(buffer, replayLength, n);
        replayLength += n;
      }
      boolean last = chunk.isLast();
      chunk.release();
      if (last) {
        bytesIn += replayLength;
        if (newUpstream(java.util.Objects.requireNonNull(firstEndpoint))) {
          send();
        }
        return;
      }
    }
  }

  /** The body outgrew the replay buffer: stream it (what was read first), and never retry it. */
  private void tooLargeToReplay(byte[] buffer, Content.Chunk chunk) {
    int n = chunk.remaining();
    byte[] head = java.util.Arrays.copyOf(buffer, replayLength + n);
    chunk.getByteBuffer().get(head, replayLength, n);
    boolean last = chunk.isLast();
    chunk.release();
    replayBuffer = null;
    replayLength = 0;
    if (!newUpstream(java.util.Objects.requireNonNull(firstEndpoint))) {
      return;
    }
    streamBody(false);
    java.util.Objects.requireNonNull(body).pushBack(Content.Chunk.from(ByteBuffer.wrap(head), last));
    send();
  }

  /** The circuit breaker (or a backend's pending queue) is full: 503 at once, with the reason in a header. */
  private void sendOverflow(HttpProxyStats.ErrorKind kind, String why) {
    if (response.isCommitted()) {
      finish(0, kind, new IllegalStateException("503 after the response was committed"));
      return;
    }
    response.reset();
    response.setStatus(503);
    byte[] text = ("503 Service Unavailable: " + why + "\n").getBytes(StandardCharsets.US_ASCII);
    HttpFields.Mutable h = response.getHeaders();
    h.put(HttpHeader.CONTENT_TYPE, "text/plain; charset=utf-8");
    h.put(HttpHeader.CONTENT_LENGTH, text.length);
    h.put(OVERFLOW_HEADER, why);
    response.write(true, ByteBuffer.wrap(text), Callback.from(
        () -> finish(503, kind, null),
        x -> finish(503, kind, x)));
  }

  /** The header naming why the proxy refused a request with 503. */
  static final String OVERFLOW_HEADER = "X-Meshlet-Overflow";

  // --- retries

  /**
   * Whether the failed try may be retried for {@code reason}, by the rules in {@link RetryPolicy};
   * a true answer holds a place in the retry budget.
   */
  private boolean mayRetry(HttpProxyStats.RetryReason reason) {
    if (finished.get() || clientGone || clientBodyFailed || totalTimedOut || headForwarded || response.isCommitted()) {
      return false;
    }
    boolean replayable = !hasBody() || replayBuffer != null;
    Resilience res = handler.resilience;
    if (reason == HttpProxyStats.RetryReason.STALE_CONNECTION && staleRetries < 2) {
      UpstreamBody streamed = body;
      if (!replayable && streamed != null) {
        UpstreamBody next = streamed.replay();
        if (next != null) {
          body = next; // attached to the next try by newUpstream
          replayable = true;
        }
      }
      if (!replayable) {
        res.notReplayable();
        return false;
      }
      staleRetries++;
      if (!holdsRetryBudget) {
        java.util.Objects.requireNonNull(cluster).acquireRetry();
        holdsRetryBudget = true;
      }
      return true;
    }
    RetryPolicy p = policy;
    if (attempt + 1 >= p.maxAttempts() || p.idempotentOnly() && !RetryPolicy.idempotent(request.getMethod())) {
      return false;
    }
    if (!replayable) {
      res.notReplayable();
      return false;
    }
    if (holdsRetryBudget) {
      return true;
    }
    if (!res.tryStartRetry(p, java.util.Objects.requireNonNull(cluster))) {
      return false;
    }
    holdsRetryBudget = true;
    return true;
  }

  /** What went wrong with the current try, as a retry reason; null when it must not be retried. */
  private HttpProxyStats.@Nullable RetryReason retryReason(Throwable failure) {
    if (failure instanceof java.util.concurrent.RejectedExecutionException || responseBegun) {
      return null;
    }
    if (timedOut) {
      return HttpProxyStats.RetryReason.PER_TRY_TIMEOUT;
    }
    if (!requestBegun) {
      return HttpProxyStats.RetryReason.CONNECT_FAILURE;
    }
    if (reusedConnection && failure instanceof java.io.IOException
        && (RetryPolicy.idempotent(request.getMethod()) || !headMayBeWritten)) {
      // The keep-alive race, retried whatever the policy. The backend may have received a request
      // whose head was written and acted on it before closing, so a non-idempotent one (RFC 9110
      // §9.2.2) is a stale retry only when none of it was written; otherwise the policy decides.
      return HttpProxyStats.RetryReason.STALE_CONNECTION;
    }
    return HttpProxyStats.RetryReason.RESET;
  }

  /** The try no longer waits for a connection: its place in the cluster's pending limit is free. */
  private void releasePending() {
    Cluster c = cluster;
    if (c != null && PENDING.compareAndSet(this, 1, 0)) {
      c.releasePending();
    }
  }

  /** Ends the failed try and starts the next one, on another backend if there is one, after a backoff. */
  private void retry(HttpProxyStats.RetryReason reason) {
    releasePending();
    handler.resilience.retried(reason);
    Scheduler.Task t = responseTimeout;
    if (t != null) {
      t.cancel();
    }
    Endpoint previous = endpoint;
    Counters bc = backendCounters;
    if (previous != null) {
      switch (reason) {
        case CONNECT_FAILURE, RESET, PER_TRY_TIMEOUT -> previous.failed(); // STATUS counted in onHeaders
        default -> {}
      }
      previous.end();
    }
    if (bc != null) {
      if (reason == HttpProxyStats.RetryReason.PER_TRY_TIMEOUT) {
        bc.error(HttpProxyStats.ErrorKind.GATEWAY_TIMEOUT);
      } else if (reason != HttpProxyStats.RetryReason.STATUS) {
        bc.error(HttpProxyStats.ErrorKind.BAD_GATEWAY);
      }
      bc.end(retryStatus);
    }
    endpoint = null;
    backendCounters = null;
    attempt++;
    long delay = reason == HttpProxyStats.RetryReason.STALE_CONNECTION ? 0
        : policy.backoffNanos(attempt, ThreadLocalRandom.current().nextLong());
    if (delay <= 0) {
      nextTry(previous);
    } else {
      backoff = handler.scheduler.schedule(() -> nextTry(previous), delay, TimeUnit.NANOSECONDS);
    }
  }

  private void nextTry(@Nullable Endpoint previous) {
    backoff = null;
    if (finished.get()) {
      return;
    }
    if (clientGone || clientBodyFailed) { // the client failed while the last try ended
      endBetweenTries();
      return;
    }
    if (totalTimedOut) {
      sendError(504, HttpProxyStats.ErrorKind.GATEWAY_TIMEOUT, false);
      return;
    }
    Cluster c = java.util.Objects.requireNonNull(cluster);
    Endpoint next = c.pick(key, attempt, previous);
    if (next == null) {
      sendError(503, HttpProxyStats.ErrorKind.NO_BACKEND, false);
      return;
    }
    if (newUpstream(next)) {
      send();
    }
  }

  /**
   * Whether the client's request failed for being malformed rather than for the client leaving. Jetty
   * reports both a bad chunk and a client gone mid-body as an early EOF; only the latter has read the
   * end of the client's stream.
   */
  private boolean malformed(@Nullable Throwable failure) {
    if (!(failure instanceof HttpException)) {
      return false;
    }
    if (!(failure instanceof org.eclipse.jetty.io.EofException)) {
      return true;
    }
    org.eclipse.jetty.io.EndPoint endPoint = request.getConnectionMetaData().getConnection().getEndPoint();
    return endPoint.isOpen() && !endPoint.isInputShutdown();
  }

  private void onClientFailure(Throwable failure) {
    if (malformed(failure)) {
      clientBodyFailed = true;
    } else {
      clientGone = true;
    }
    Scheduler.Task b = backoff;
    if (b != null && b.cancel()) {
      endBetweenTries(); // between tries: nothing in flight upstream
      return;
    }
    org.eclipse.jetty.client.Request up = upstream;
    if (up != null) {
      abortUpstream(up, failure);
    }
  }

  /** The client left or sent a malformed body while no try was in flight: end the exchange. */
  private void endBetweenTries() {
    if (clientBodyFailed) {
      sendError(400, HttpProxyStats.ErrorKind.BAD_REQUEST, true);
    } else {
      finish(0, HttpProxyStats.ErrorKind.CLIENT_ABORTED,
          new org.eclipse.jetty.io.EofException("client gone between tries"));
    }
  }

  // --- client -> proxy checks and header copy

  /** Jetty's strict parser rejects most ambiguities; it still accepts codings before chunked. */
  private boolean framingIsUnambiguous() {
    HttpFields headers = request.getHeaders();
    int te = 0;
    for (HttpField f : headers) {
      if (f.getHeader() == HttpHeader.TRANSFER_ENCODING) {
        te++;
        if (te > 1 || !"chunked".equalsIgnoreCase(f.getValue().strip())) {
          return false;
        }
      }
    }
    if (te > 0 && headers.contains(HttpHeader.CONTENT_LENGTH)) {
      return false;
    }
    return te == 0 || request.getConnectionMetaData().getHttpVersion() != HttpVersion.HTTP_1_0;
  }

  private boolean hasUnderscoreHeader() {
    for (HttpField f : request.getHeaders()) {
      if (f.getHeader() == null && TargetCheck.hasUnderscore(f.getName())) {
        return true;
      }
    }
    return false;
  }

  private boolean hasBody() {
    long length = request.getLength();
    return length > 0 || (length < 0 && request.getHeaders().contains(HttpHeader.TRANSFER_ENCODING));
  }

  private long clientKey() {
    SocketAddress remote = request.getConnectionMetaData().getRemoteSocketAddress();
    if (remote instanceof InetSocketAddress isa && isa.getAddress() != null) {
      return isa.getAddress().hashCode();
    }
    return ThreadLocalRandom.current().nextLong();
  }

  private void copyRequestHeaders(HttpFields.Mutable out) {
    HttpFields in = request.getHeaders();
    Set<String> named = connectionTokens(in);
    boolean trusted = config.trusted(peerAddress());
    StringBuilder xff = null;
    String via = null;
    String originalHost = null;
    boolean hasRequestId = false;
    for (HttpField f : in) {
      HttpHeader h = f.getHeader();
      if (h != null) {
        switch (h) {
          case HOST -> {
            originalHost = f.getValue();
            out.add(f); // never stripped, even when named in Connection
            continue;
          }
          case CONNECTION, KEEP_ALIVE, PROXY_CONNECTION, TE, TRANSFER_ENCODING, UPGRADE,
              PROXY_AUTHENTICATE, PROXY_AUTHORIZATION, CONTENT_LENGTH -> {
            continue;
          }
          default -> {}
        }
      }
      if (named != null && named.contains(f.getLowerCaseName())) {
        continue;
      }
      if (h != null) {
        switch (h) {
          case X_FORWARDED_FOR -> {
            if (!config.dropClientForwardedFor()) {
              xff = xff == null ? new StringBuilder(f.getValue()) : xff.append(", ").append(f.getValue());
            }
            continue;
          }
          case X_FORWARDED_PROTO, X_FORWARDED_HOST, X_FORWARDED_PORT, FORWARDED -> {
            if (trusted) {
              out.add(f);
            }
            continue;
          }
          case VIA -> {
            via = via == null ? f.getValue() : via + ", " + f.getValue();
            continue;
          }
          case EXPECT -> {
            if (request.getConnectionMetaData().getHttpVersion() == HttpVersion.HTTP_1_0) {
              continue; // RFC 9110 §10.1.1: a 1.0 client's expectation is ignored, never passed on
            }
          }
          default -> {}
        }
      } else if (f.is(X_REQUEST_ID)) {
        hasRequestId = true;
      } else if (TargetCheck.hasUnderscore(f.getName())) {
        continue; // X_Forwarded_For reads as X-Forwarded-For to CGI-style backends: dropped, as nginx does
      } else if (!trusted && (f.is("X-Real-IP") || f.is("X-Forwarded-Prefix"))) {
        continue;
      }
      out.add(f);
    }
    String peer = Request.getRemoteAddr(request);
    out.put(HttpHeader.X_FORWARDED_FOR, xff == null ? peer : xff.append(", ").append(peer).toString());
    if (!out.contains(HttpHeader.X_FORWARDED_PROTO)) {
      // the connection's security, not the request target's scheme, which the client chooses
      out.put(HttpHeader.X_FORWARDED_PROTO, request.getConnectionMetaData().isSecure() ? "https" : "http");
    }
    if (originalHost != null && !out.contains(HttpHeader.X_FORWARDED_HOST)) {
      out.put(HttpHeader.X_FORWARDED_HOST, originalHost);
    }
    if (!out.contains(HttpHeader.X_FORWARDED_PORT)) {
      out.put(HttpHeader.X_FORWARDED_PORT, Integer.toString(Request.getLocalPort(request)));
    }
    String hop = (request.getConnectionMetaData().getHttpVersion() == HttpVersion.HTTP_1_0 ? "1.0" : "1.1")
        + handler.viaSuffix;
    out.put(HttpHeader.VIA, via == null ? hop : via + ", " + hop);
    if (!hasRequestId) {
      String id = generatedRequestId; // one id for all tries of a request
      if (id == null) {
        id = newRequestId();
        generatedRequestId = id;
      }
      out.put(X_REQUEST_ID, id);
    }
    config.requestHeaders().apply(out);
    HttpRoute r = route;
    if (r != null) {
      r.requestHeaders().apply(out);
      String hostRewrite = r.hostRewrite();
      if (hostRewrite != null) {
        out.put(HttpHeader.HOST, hostRewrite);
      }
    }
  }

  private @Nullable InetAddress peerAddress() {
    SocketAddress remote = request.getConnectionMetaData().getRemoteSocketAddress();
    return remote instanceof InetSocketAddress isa ? isa.getAddress() : null;
  }

  /** The lower-case header names listed in Connection, or null when there are none. */
  static @Nullable Set<String> connectionTokens(HttpFields fields) {
    Set<String> names = null;
    for (HttpField f : fields) {
      if (f.getHeader() != HttpHeader.CONNECTION) {
        continue;
      }
      for (String token : f.getValues()) {
        String t = token.strip().toLowerCase(Locale.ROOT);
        if (t.isEmpty() || t.equals("close") || t.equals("keep-alive")) {
          continue;
        }
        if (names == null) {
          names = new HashSet<>();
        }
        names.add(t);
      }
    }
    return names;
  }

  /** 128 random bits as 32 hex digits, without SecureRandom's contention. */
  static String newRequestId() {
    ThreadLocalRandom random = ThreadLocalRandom.current();
    char[] out = new char[32];
    long a = random.nextLong();
    long b = random.nextLong();
    for (int i = 0; i < 16; i++) {
      out[i] = HEX[(int) (a >>> (60 - 4 * i)) & 0xF];
      out[16 + i] = HEX[(int) (b >>> (60 - 4 * i)) & 0xF];
    }
    return new String(out);
  }

  // --- server -> proxy -> client

  void onContinue() {
    UpstreamBody b = body;
    if (b != null) {
      b.open();
    }
  }

  void requestTrailers(HttpFields trailers) {
    requestTrailers = trailers;
  }

  /** Reading the client's body failed: malformed (400) or the client went away (counted as such). */
  void onClientBodyFailure(@Nullable Throwable failure) {
    if (malformed(failure)) {
      clientBodyFailed = true;
    } else {
      clientGone = true;
    }
  }

  /** Ends the exchange the client's body failure ended before anything was sent upstream. */
  private void bodyFailedEarly(Content.Chunk chunk) {
    if (!SEND_STATE.compareAndSet(this, NOT_SENT, SENT)) {
      return; // the request timeout answered: its finish() releases what is held
    }
    if (malformed(chunk.getFailure())) {
      clientBodyFailed = true;
      sendError(400, HttpProxyStats.ErrorKind.BAD_REQUEST, true);
    } else {
      clientGone = true;
      finish(0, HttpProxyStats.ErrorKind.CLIENT_ABORTED, chunk.getFailure());
    }
  }

  /**
   * {@link #start} threw (a route matcher on an odd request, say): answer 400 if the response is
   * still ours to write, and end the exchange so the counters stay balanced.
   */
  void startFailed(RuntimeException failure) {
    if (finished.get()) {
      return;
    }
    clientBodyFailed = true; // whatever happens upstream now is not the backend's fault
    org.eclipse.jetty.client.Request up = upstream;
    if (up != null) {
      abortUpstream(up, failure);
    }
    if (!response.isCommitted()) {
      sendError(400, HttpProxyStats.ErrorKind.BAD_REQUEST, true);
    } else {
      finish(0, HttpProxyStats.ErrorKind.BAD_REQUEST, failure);
    }
  }

  void countBytesIn(int n) {
    bytesIn += n;
    Endpoint e = endpoint;
    if (e != null) {
      e.bytesOut(n);
    }
  }

  @Override
  public void onBegin(org.eclipse.jetty.client.Response upstreamResponse) {
    responseBegun = true;
    Scheduler.Task t = responseTimeout;
    if (t != null) {
      t.cancel();
    }
    UpstreamBody b = body;
    if (b != null) {
      b.dropReplay(); // a try whose response began is never made again
    }
  }

  /**
   * Whether what the current try sends of a streamed body must be kept for a stale-connection retry:
   * only on a reused connection, while such a retry is still possible.
   */
  boolean keepForReplay() {
    return reusedConnection && staleRetries < 2 && !responseBegun;
  }

  /** Bytes of a streamed body sent again by a stale-connection retry: the backend gets them again. */
  void countReplayed(int n) {
    Endpoint e = endpoint;
    if (e != null) {
      e.bytesOut(n);
    }
  }

  @Override
  public void onHeaders(org.eclipse.jetty.client.Response upstreamResponse) {
    int status = upstreamResponse.getStatus();
    RetryPolicy p = policy;
    if (p.retries() && p.retryOn().contains(status) && mayRetry(HttpProxyStats.RetryReason.STATUS)) {
      Endpoint e = endpoint;
      if (e != null && status >= 500) {
        e.failed(); // outlier detection sees it as forwardHead would have
      }
      retryStatus = status;
      retryReason = HttpProxyStats.RetryReason.STATUS;
      upstreamResponse.abort(new java.io.IOException("meshlet: retrying after status " + status)); // then onComplete
      return;
    }
    forwardHead(upstreamResponse);
  }

  /** Forwards the backend's response head; false when it was refused (the exchange then ends in 502). */
  private boolean forwardHead(org.eclipse.jetty.client.Response upstreamResponse) {
    int status = upstreamResponse.getStatus();
    String badFraming = ResponseCheck.problem(upstreamResponse);
    if (badFraming != null) {
      // bad framing or a stray 1xx (101 to a request that asked no upgrade): 502, never forwarded
      upstreamResponse.abort(new java.io.IOException("meshlet: backend response refused: " + badFraming));
      return false;
    }
    headForwarded = true;
    noBody = status == 204 || status == 304 || HttpMethod.HEAD.is(request.getMethod());
    upstreamHeadNanos = System.nanoTime() - upstreamHeadNanos;
    Endpoint e = endpoint;
    if (e != null) {
      // feeds the cluster's outlier detection: a server error counts against the backend
      if (status >= 500) {
        e.failed();
      } else {
        e.succeeded();
      }
    }
    response.setStatus(status);
    HttpFields in = upstreamResponse.getHeaders();
    HttpFields.Mutable out = response.getHeaders();
    Set<String> named = connectionTokens(in);
    boolean chunked = false;
    String via = null;
    for (HttpField f : in) {
      HttpHeader h = f.getHeader();
      if (h != null) {
        switch (h) {
          case TRANSFER_ENCODING -> {
            chunked = true;
            continue;
          }
          case CONNECTION, KEEP_ALIVE, PROXY_CONNECTION, TE, UPGRADE, PROXY_AUTHENTICATE, PROXY_AUTHORIZATION -> {
            continue;
          }
          default -> {}
        }
      }
      if (named != null && named.contains(f.getLowerCaseName())) {
        continue;
      }
      if (h == HttpHeader.VIA) {
        via = via == null ? f.getValue() : via + ", " + f.getValue();
        continue;
      }
      if (h == HttpHeader.CONTENT_LENGTH && (status == 204 || status == 304)) {
        continue; // RFC 9110 §8.6: a 204 has none; a 304's would make Jetty expect a body it must not send
      }
      out.add(f);
    }
    // RFC 9110 §7.6.3: a proxy adds itself to Via in both directions
    String hop = (upstreamResponse.getVersion() == HttpVersion.HTTP_1_0 ? "1.0" : "1.1") + handler.viaSuffix;
    out.put(HttpHeader.VIA, via == null ? hop : via + ", " + hop);
    HttpRoute r = route;
    if (r != null) {
      r.responseHeaders().apply(out);
    }
    config.responseHeaders().apply(out);
    if (chunked) {
      response.setTrailersSupplier(this::trailers);
    }
    return true;
  }

  private @Nullable HttpFields trailers() {
    HttpRoute r = route;
    return TrailerPolicy.filter(upstreamTrailers, r == null ? null : r.responseHeaders(), config.responseHeaders());
  }

  @Override
  public void onContent(org.eclipse.jetty.client.Response upstreamResponse, Content.Chunk chunk, Runnable demander) {
    FaultPlan plan = faults;
    if (plan != null && plan.shapesResponse()) {
      shapedContent(plan, upstreamResponse, chunk, demander);
      return;
    }
    ByteBuffer buffer = chunk.getByteBuffer();
    int n = buffer.remaining();
    if (noBody) {
      buffer.position(buffer.limit()); // 204, 304 or HEAD: whatever the backend sent is not a body
      demander.run();
      return;
    }
    bytesOut += n;
    Endpoint e = endpoint;
    if (e != null) {
      e.bytesIn(n);
    }
    chunk.retain();
    response.write(false, buffer, new Callback() {
      @Override
      public void succeeded() {
        chunk.release();
        demander.run();
      }

      @Override
      public void failed(Throwable x) {
        chunk.release();
        clientGone = true; // cannot write to the client: abort towards the server
        upstreamResponse.abort(x);
      }

      @Override
      public Invocable.InvocationType getInvocationType() {
        return Invocable.InvocationType.NON_BLOCKING;
      }
    });
  }

  @Override
  public void onSuccess(org.eclipse.jetty.client.Response upstreamResponse) {
    responseSucceeded = true;
    ByteBuffer last = BufferUtil.EMPTY_BUFFER;
    if (!headForwarded) {
      // A final response to "Expect: 100-continue" arrives here already buffered by Jetty.
      if (!forwardHead(upstreamResponse)) {
        Endpoint e = endpoint;
        if (e != null) {
          e.failed();
        }
        sendError(502, HttpProxyStats.ErrorKind.BAD_GATEWAY, false);
        return;
      }
      if (upstreamResponse instanceof ContentResponse cr && cr.getContent().length > 0) {
        last = ByteBuffer.wrap(cr.getContent());
        bytesOut += last.remaining();
      }
    }
    HttpFields trailers = upstreamResponse.getTrailers();
    if (trailers != null && trailers.size() > 0) {
      upstreamTrailers = trailers;
    }
    int status = upstreamResponse.getStatus();
    FaultPlan plan = faults;
    if (plan != null && plan.responseDelayNanos > 0) { // a response delay and no body written yet
      long delay = plan.responseDelayNanos;
      plan.responseDelayNanos = 0;
      ByteBuffer lastBuffer = last;
      handler.scheduler.schedule(() -> writeLast(status, lastBuffer), delay, TimeUnit.NANOSECONDS);
      return;
    }
    writeLast(status, last);
  }

  private void writeLast(int status, ByteBuffer last) {
    response.write(true, last, Callback.from(
        () -> finish(status, null, null),
        x -> finish(status, HttpProxyStats.ErrorKind.CLIENT_ABORTED, x)));
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
      failure = new IllegalStateException("upstream exchange failed");
    }
    HttpProxyStats.RetryReason reason = retryReason;
    if (reason == null) {
      reason = retryReason(failure);
      if (reason != null && !mayRetry(reason)) {
        reason = null;
      }
    }
    if (reason != null) {
      retry(reason);
      return;
    }
    onUpstreamFailure(failure);
  }

  private void onUpstreamFailure(Throwable failure) {
    Endpoint e = endpoint;
    if (clientGone) {
      finish(0, HttpProxyStats.ErrorKind.CLIENT_ABORTED, failure);
      return;
    }
    if (clientBodyFailed) {
      sendError(400, HttpProxyStats.ErrorKind.BAD_REQUEST, true);
      return;
    }
    if (failure instanceof java.util.concurrent.RejectedExecutionException && !response.isCommitted()) {
      // Jetty's queue of requests waiting for a connection to this backend is full
      sendOverflow(HttpProxyStats.ErrorKind.PENDING_OVERFLOW,
          "backend " + (e == null ? "?" : e.backend().displayName()) + " max pending requests");
      return;
    }
    if (e != null) {
      e.failed();
    }
    if (response.isCommitted()) {
      // The backend died mid-response: abort the client connection rather than end the body cleanly.
      finish(0, HttpProxyStats.ErrorKind.UPSTREAM_ABORTED, failure);
    } else if (timedOut || failure instanceof TimeoutException) {
      sendError(504, HttpProxyStats.ErrorKind.GATEWAY_TIMEOUT, false);
    } else {
      sendError(502, HttpProxyStats.ErrorKind.BAD_GATEWAY, false);
    }
  }

  // --- answers from the proxy itself and the end of the exchange

  private void sendError(int status, HttpProxyStats.ErrorKind kind, boolean close) {
    if (response.isCommitted()) {
      finish(0, kind, new IllegalStateException(status + " after the response was committed"));
      return;
    }
    response.reset();
    response.setStatus(status);
    byte[] text = ErrorBodies.body(status);
    HttpFields.Mutable h = response.getHeaders();
    h.put(HttpHeader.CONTENT_TYPE, "text/plain; charset=utf-8");
    h.put(HttpHeader.CONTENT_LENGTH, text.length);
    if (close) {
      h.put(HttpHeader.CONNECTION, "close");
    }
    response.write(true, ByteBuffer.wrap(text), Callback.from(
        () -> finish(status, kind, null),
        x -> finish(status, kind, x)));
  }

  private void finish(int status, HttpProxyStats.@Nullable ErrorKind kind, @Nullable Throwable failure) {
    if (!finished.compareAndSet(false, true)) {
      return;
    }
    ClientWatcher.Watch watch = clientWatch;
    if (watch != null) {
      watch.cancel(); // before the callback: the connection is Jetty's alone again
    }
    Scheduler.Task t = responseTimeout;
    if (t != null) {
      t.cancel();
    }
    cancel(totalTimeout);
    cancel(connectTimeout);
    releasePending();
    Cluster admitted = cluster;
    if (admitted != null) {
      admitted.release();
    }
    if (holdsRetryBudget && admitted != null) {
      admitted.releaseRetry();
    }
    UpstreamBody b = body;
    if (b != null) {
      b.discard();
    }
    long in = b != null || replayBuffer != null ? bytesIn : 0;
    long out = bytesOut;
    Counters rc = routeCounters;
    Counters bc = backendCounters;
    Endpoint e = endpoint;
    if (kind != null) {
      handler.total.error(kind);
      if (rc != null) {
        rc.error(kind);
      }
      if (bc != null) {
        bc.error(kind);
      }
    }
    handler.total.bytesIn(in);
    handler.total.bytesOut(out);
    if (rc != null) {
      rc.bytesIn(in);
      rc.bytesOut(out);
      rc.end(status);
    }
    if (bc != null) {
      bc.bytesIn(in);
      bc.bytesOut(out);
      bc.end(status);
    }
    if (e != null) {
      e.end();
    }
    if (config.accessLog() && ForwardingHandler.ACCESS_LOG.isInfoEnabled()) {
      long totalMicros = (System.nanoTime() - startNanos) / 1000;
      long upstreamMicros = headForwarded ? upstreamHeadNanos / 1000 : -1;
      HttpRoute r = route;
      Object[] line = {
          request.getMethod(),
          request.getHttpURI().getPathQuery(),
          status,
          r == null ? "-" : r.name(),
          e == null ? "-" : e.backend().displayName(),
          upstreamMicros,
          totalMicros,
          in,
          out,
          kind == null ? "" : " error=" + kind};
      // this may run on a selector thread: a synchronous appender must not stall the network
      Runnable log = () -> ForwardingHandler.ACCESS_LOG.info(
          "{} {} {} route={} backend={} upstream_us={} total_us={} in={} out={}{}", line);
      try {
        handler.client.getExecutor().execute(log);
      } catch (java.util.concurrent.RejectedExecutionException stopping) {
        log.run();
      }
    }
    HeadDeadline deadline = handler.headDeadline;
    if (deadline != null && failure == null) {
      deadline.responseDone(request.getConnectionMetaData().getConnection());
    }
    // every count first, then the journal entry, then in flight: a test that saw the entry (awaitRequests)
    // or no request in flight (awaitIdle) reads final stats
    handler.total.counted(status);
    recordCompleted(status);
    long left = handler.total.left();
    handler.ended(left);
    if (failure == null) {
      callback.succeeded();
    } else {
      callback.failed(failure);
    }
  }

  private static void cancel(Scheduler.@Nullable Task task) {
    if (task != null) {
      task.cancel();
    }
  }

  // --- fault injection (issue 7): hooks above call these only when the route has faults

  private void sendFault(int status) {
    byte[] text = ("fault injected: " + status + "\n").getBytes(StandardCharsets.US_ASCII);
    response.setStatus(status);
    HttpFields.Mutable h = response.getHeaders();
    h.put(HttpHeader.CONTENT_TYPE, "text/plain; charset=utf-8");
    h.put(HttpHeader.CONTENT_LENGTH, text.length);
    response.write(true, ByteBuffer.wrap(text), Callback.from(
        () -> finish(status, null, null),
        x -> finish(status, HttpProxyStats.ErrorKind.CLIENT_ABORTED, x)));
  }

  private void shapedContent(
      FaultPlan plan, org.eclipse.jetty.client.Response upstreamResponse, Content.Chunk chunk, Runnable demander) {
    ByteBuffer buffer = chunk.getByteBuffer();
    Endpoint e = endpoint;
    if (e != null) {
      e.bytesIn(buffer.remaining());
    }
    chunk.retain();
    long delay = plan.responseDelayNanos;
    if (delay > 0) {
      plan.responseDelayNanos = 0;
      handler.scheduler.schedule(
          () -> writeShaped(plan, upstreamResponse, chunk, buffer, demander), delay, TimeUnit.NANOSECONDS);
      return;
    }
    writeShaped(plan, upstreamResponse, chunk, buffer, demander);
  }

  /** Writes the chunk in paced slices and/or up to the abort point; demands more when it is all out. */
  private void writeShaped(FaultPlan plan, org.eclipse.jetty.client.Response upstreamResponse, Content.Chunk chunk,
      ByteBuffer buffer, Runnable demander) {
    int size = buffer.remaining();
    if (plan.bytesPerSecond > 0) {
      size = (int) Math.min(size, Math.max(1, plan.bytesPerSecond / 20)); // 50 ms worth at a time
    }
    boolean cut = false;
    if (plan.abortAfter >= 0) {
      long left = plan.abortAfter - plan.bodyWritten;
      if (size >= left) {
        size = (int) Math.max(0, left);
        cut = true;
      }
    }
    ByteBuffer part = buffer.slice(buffer.position(), size);
    buffer.position(buffer.position() + size);
    plan.bodyWritten += size;
    bytesOut += size;
    int written = size;
    boolean reset = cut;
    response.write(false, part, new Callback() {
      @Override
      public void succeeded() {
        if (reset) {
          chunk.release();
          resetClient(plan, upstreamResponse);
          return;
        }
        Runnable next = buffer.hasRemaining()
            ? () -> writeShaped(plan, upstreamResponse, chunk, buffer, demander)
            : () -> {
              chunk.release();
              demander.run();
            };
        long wait = 0;
        if (plan.bytesPerSecond > 0) {
          long now = System.nanoTime();
          plan.nextWriteNanos = Math.max(plan.nextWriteNanos, now) + written * 1_000_000_000L / plan.bytesPerSecond;
          wait = plan.nextWriteNanos - now;
        }
        if (wait > 0) {
          handler.scheduler.schedule(next, wait, TimeUnit.NANOSECONDS);
        } else {
          next.run();
        }
      }

      @Override
      public void failed(Throwable x) {
        chunk.release();
        clientGone = true;
        upstreamResponse.abort(x);
      }

      @Override
      public Invocable.InvocationType getInvocationType() {
        return Invocable.InvocationType.NON_BLOCKING;
      }
    });
  }

  /** The abort-body fault: RST to the client after the bytes it was allowed, and drop the upstream exchange. */
  private void resetClient(FaultPlan plan, org.eclipse.jetty.client.Response upstreamResponse) {
    clientGone = true; // the upstream abort below is ours, not the backend's fault
    java.io.IOException why = new java.io.IOException(
        "meshlet fault: response reset after " + plan.bodyWritten + " body bytes");
    if (request.getConnectionMetaData().getConnection().getEndPoint().getTransport()
        instanceof java.nio.channels.SocketChannel ch) {
      try {
        ch.setOption(java.net.StandardSocketOptions.SO_LINGER, 0);
      } catch (java.io.IOException | RuntimeException ignored) {
        // closed already: the client sees the end either way
      }
    }
    finish(response.getStatus(), HttpProxyStats.ErrorKind.UPSTREAM_ABORTED, why);
    upstreamResponse.abort(why);
  }

  private void recordCompleted(int status) {
    dev.meshlet.core.Journal<HttpEvent> journal = handler.journal;
    if (journal.capacity() == 0) {
      return;
    }
    HttpRoute r = route;
    Endpoint e = endpoint;
    FaultPlan plan = faults;
    journal.record(new HttpEvent.Completed(requestId, request.getMethod(), request.getHttpURI().getPathQuery(),
        r == null ? null : r.name(), e == null ? null : e.backend(), status,
        plan == null ? List.of() : plan.kinds, java.time.Instant.now()), journalGeneration);
  }

  /** Short fixed bodies for the proxy's own answers. */
  static final class ErrorBodies {
    private ErrorBodies() {}

    static byte[] body(int status) {
      String text = switch (status) {
        case 400 -> "400 Bad Request\n";
        case 404 -> "404 Not Found: no route\n";
        case 405 -> "405 Method Not Allowed\n";
        case 408 -> "408 Request Timeout\n";
        case 414 -> "414 URI Too Long\n";
        case 431 -> "431 Request Header Fields Too Large\n";
        case 502 -> "502 Bad Gateway\n";
        case 503 -> "503 Service Unavailable: no backend\n";
        case 504 -> "504 Gateway Timeout\n";
        default -> status + "\n";
      };
      return text.getBytes(StandardCharsets.US_ASCII);
    }
  }
}
