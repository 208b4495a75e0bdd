package dev.meshlet.l7;

import dev.meshlet.core.Cluster;
import dev.meshlet.core.Endpoint;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.time.Instant;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicIntegerFieldUpdater;
import java.util.concurrent.atomic.AtomicReferenceFieldUpdater;
import org.eclipse.jetty.client.ByteBufferRequestContent;
import org.eclipse.jetty.http.HttpFields;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.http.HttpURI;
import org.eclipse.jetty.http.Trailers;
import org.eclipse.jetty.io.Content;
import org.eclipse.jetty.io.EofException;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.Callback;
import org.eclipse.jetty.util.thread.Scheduler;
import org.jspecify.annotations.Nullable;

/**
 * One proxied request, from the client request (client→proxy) to the end of the client response
 * (proxy→client), made of one {@link Attempt} per try (proxy→server and server→proxy).
 *
 * <p>It owns what only it can own: who answers the client, once; the admission permits (the
 * cluster's circuit breaker, its pending limit and retry budget); the retry loop; the client's body;
 * and the end of the request (counters, access log, journal). Everything runs on Jetty's callbacks
 * and the scheduler; nothing waits. The Jetty {@code callback} is completed exactly once, in {@link
 * #finish}.
 *
 * <h2>Who answers the client</h2>
 * One {@link State}, changed only by compare-and-set:
 * <pre>
 * from        to          by
 * IDLE        PREPARING   prepare(): a try is being built (its counters begun)
 * PREPARING   IDLE        prepare(): built, not sent; a request timeout meanwhile is answered now
 * IDLE        IN_FLIGHT   send(): the try is handed to Jetty
 * IN_FLIGHT   IDLE        retry(): the failed try ended; the next waits its backoff
 * IDLE        ANSWERING   claim(): a local answer (refusal, timeout, client gone, no backend)
 * IN_FLIGHT   ANSWERING   claim(): the try in flight forwards its response or answers its failure
 * any         DONE        finish(): counters, log, journal, Jetty's callback
 * </pre>
 * In IDLE, a request timeout or a client failure answers by itself (cancelling a backoff); in
 * IN_FLIGHT or ANSWERING it aborts the try, whose failure answers; in PREPARING it is noted and
 * answered when the try is built.
 */
final class Exchange implements ProxyRequestContent.Listener {
  /** Who answers the client: see the class comment for the transitions. */
  enum State {
    /** No try is in flight: before the first, while the body is read, during a backoff. */
    IDLE,
    /** A try is being built. */
    PREPARING,
    /** A try has been handed to Jetty. */
    IN_FLIGHT,
    /** The client response is being written, by a local answer or a forwarding try. */
    ANSWERING,
    /** Ended: Jetty's callback is completed. */
    DONE
  }

  private static final AtomicReferenceFieldUpdater<Exchange, State> STATE =
      AtomicReferenceFieldUpdater.newUpdater(Exchange.class, State.class, "state");
  private static final AtomicIntegerFieldUpdater<Exchange> PENDING =
      AtomicIntegerFieldUpdater.newUpdater(Exchange.class, "pendingHeld");

  private final ProxyContext ctx;
  private final RouteTable table;
  private final Request clientRequest;
  private final Response clientResponse;
  private final Callback callback;
  private final long startNanos = System.nanoTime();
  /** Numbered from 1 in arrival order, for the journal and the fault draws. */
  private final long requestId;
  /** The journal's generation when the request arrived: nothing of it is journaled after a clear. */
  private final long journalGeneration;
  private volatile State state = State.IDLE;

  // routing, decided once in start()
  private @Nullable HttpRoute route;
  private @Nullable Counters routeCounters;
  /** The faults drawn for this request; null (the usual case) when none applies. */
  private @Nullable FaultPlan faults;
  private RetryPolicy policy = RetryPolicy.none();
  private long key;
  private String target = "/";

  // admission: the cluster's permits this request holds, released in finish()
  /** The cluster whose circuit breaker admitted this request. */
  private @Nullable Cluster cluster;
  /** 1 while a try holds a place in the cluster's pending limit (waits for a connection). */
  private volatile int pendingHeld;
  private boolean holdsRetryBudget;

  // the retry loop
  private volatile @Nullable Attempt current;
  /** Tries made before the current one. */
  private int tries;
  private int staleRetries;
  private volatile Scheduler.@Nullable Task backoff;
  private Scheduler.@Nullable Task requestTimeout;
  private volatile boolean requestTimedOut;
  private @Nullable String generatedRequestId;

  // the client request and its body
  private volatile boolean clientGone;
  private volatile boolean clientBodyFailed;
  private volatile boolean bodyEnded;
  private volatile ClientWatcher.@Nullable Watch clientWatch;
  /** The streamed body; replaced by a stale-connection retry's replay of it. */
  private @Nullable ProxyRequestContent body;
  /** The whole body, when buffered for replay; null when streamed or absent. */
  private byte @Nullable [] replayBuffer;
  private int replayLength;
  private volatile @Nullable HttpFields requestTrailers;
  private volatile long bytesIn;

  Exchange(ProxyContext ctx, RouteTable table, Request clientRequest, Response clientResponse, Callback callback) {
    this.requestId = ctx.requestIds().incrementAndGet();
    this.journalGeneration = ctx.journal().generation();
    this.ctx = ctx;
    this.table = table;
    this.clientRequest = clientRequest;
    this.clientResponse = clientResponse;
    this.callback = callback;
  }

  // --- client -> proxy

  void start() {
    ctx.counters().total.begin();
    if (!ctx.timeouts().headInTime(clientRequest)) {
      claim();
      finish(0, HttpProxyStats.ErrorKind.REQUEST_TIMEOUT, new TimeoutException("request head deadline"));
      return;
    }
    RequestChecks.Refusal refusal = RequestChecks.check(clientRequest, ctx.config());
    if (refusal != null) {
      sendError(refusal.status, refusal.kind, true);
      return;
    }
    Cluster c = selectRoute();
    HttpRoute chosen = route;
    if (chosen == null || c == null) {
      sendError(404, HttpProxyStats.ErrorKind.NO_ROUTE, false);
      return;
    }
    Counters rc = ctx.counters().route(chosen);
    rc.begin();
    routeCounters = rc;

    FaultPlan plan = FaultPlan.decide(chosen, clientRequest, requestId, ctx.config().seed());
    if (plan != null) {
      faults = plan;
      for (int i = 0; i < plan.applied.size(); i++) {
        journal(new HttpEvent.FaultApplied(requestId, chosen.name(), plan.applied.get(i), Instant.now()));
      }
      if (plan.abortStatus > 0) {
        sendFault(plan.abortStatus);
        return;
      }
    }

    if (!c.tryAcquire()) { // the circuit breaker: refuse at once, say why
      sendOverflow(HttpProxyStats.ErrorKind.OVERFLOW, "cluster " + c.name() + " max requests");
      return;
    }
    cluster = c;
    RetryPolicy p = chosen.retryPolicy != null ? chosen.retryPolicy : ctx.config().retryPolicy();
    policy = p;
    key = clientKey();
    Endpoint picked = c.pick(key);
    if (picked == null) {
      sendError(503, HttpProxyStats.ErrorKind.NO_BACKEND, false);
      return;
    }
    HttpURI uri = clientRequest.getHttpURI();
    String rawPath = uri.getPath();
    String canonical = uri.getCanonicalPath();
    String t = chosen.rewritePath(rawPath, canonical == null ? rawPath : canonical);
    String query = uri.getQuery();
    target = query == null ? t : t + '?' + query;
    clientRequest.addFailureListener(this::onClientFailure);
    requestTimeout = ctx.timeouts().request(chosen, this::onRequestTimeout);

    if (!RequestChecks.hasBody(clientRequest)) {
      if (prepare(picked)) {
        send();
      }
      return;
    }
    boolean expectContinue = RequestChecks.expectsContinue(clientRequest);
    long length = clientRequest.getLength();
    if (p.retries() && !expectContinue && p.replayBufferBytes() > 0 && length <= p.replayBufferBytes()) {
      // retries on: read a body that fits the replay buffer whole before the first try
      replayBuffer = new byte[length >= 0 ? (int) length : Math.min(p.replayBufferBytes(), 8192)];
      readBodyForReplay(picked);
      return;
    }
    ProxyRequestContent b = new ProxyRequestContent(this, clientRequest, expectContinue);
    body = b;
    if (!prepare(picked)) {
      return;
    }
    // Wait for the backend's 100 only if Expect goes to it: a client's "Connection: expect" or a
    // rewrite removing Expect strips it, and a backend never asked would never send the 100.
    Attempt a = Objects.requireNonNull(current);
    if (!expectContinue || !a.proxyRequest.getHeaders().contains(HttpHeader.EXPECT, "100-continue")) {
      b.open();
      readAheadThenSend();
      return;
    }
    send();
  }

  /**
   * Routes the request: the first route to select a cluster wins (a split draws one here), else the
   * default route. Sets {@link #route} when a cluster was selected; returns it, or null for none.
   */
  private @Nullable Cluster selectRoute() {
    List<HttpRoute> routes = table.routes();
    for (int i = 0, n = routes.size(); i < n; i++) {
      HttpRoute r = routes.get(i);
      Cluster c = r.select(clientRequest);
      if (c != null) {
        route = r;
        return c;
      }
    }
    HttpRoute d = table.defaultRoute();
    Cluster c = d == null ? null : d.select(clientRequest);
    if (c != null) {
      route = d;
    }
    return c;
  }

  private long clientKey() {
    SocketAddress remote = clientRequest.getConnectionMetaData().getRemoteSocketAddress();
    if (remote instanceof InetSocketAddress isa && isa.getAddress() != null) {
      return isa.getAddress().hashCode();
    }
    return ThreadLocalRandom.current().nextLong();
  }

  /**
   * Reads the body Jetty already has before dialing: a framing error in it is then answered 400 with
   * nothing sent to the backend. One chunk is not enough for a chunked body: Jetty hands a chunk's
   * data over before it checks the CRLF after it, so a chunk longer than its size, a bad size after
   * it or a malformed trailer in the same packet would fail only once the request was sent. So reads
   * go on until one finds nothing more, the last chunk, or {@link ProxyRequestContent#READ_AHEAD}
   * bytes are held (then it is sent, and a framing error after that aborts it). A Content-Length body
   * has no framing past its length: one chunk.
   */
  private void readAheadThenSend() {
    ProxyRequestContent b = Objects.requireNonNull(body);
    boolean holding = false;
    while (state == State.IDLE) {
      Content.Chunk chunk = clientRequest.read();
      if (chunk == null) {
        if (!holding) {
          clientRequest.demand(this::readAheadThenSend);
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
      if (b.pushBack(chunk) >= ProxyRequestContent.READ_AHEAD || last || clientRequest.getLength() >= 0) {
        break;
      }
    }
    if (state != State.IDLE) { // answered meanwhile: its finish() may have come before the last pushBack
      b.discard();
      return;
    }
    send();
  }

  /** Buffers a body that fits the replay buffer, then sends the first try; a larger one is streamed. */
  private void readBodyForReplay(Endpoint first) {
    while (state == State.IDLE) {
      Content.Chunk chunk = clientRequest.read();
      if (chunk == null) {
        clientRequest.demand(() -> readBodyForReplay(first));
        return;
      }
      if (Content.Chunk.isFailure(chunk)) {
        bodyFailedEarly(chunk);
        return;
      }
      byte[] buffer = Objects.requireNonNull(replayBuffer);
      if (chunk instanceof Trailers trailers) {
        requestTrailers = trailers.getTrailers(); // not forwarded: a replayed body goes with Content-Length
      } else if (chunk.hasRemaining()) {
        int n = chunk.remaining();
        if ((long) replayLength + n > policy.replayBufferBytes()) {
          tooLargeToReplay(first, buffer, chunk);
          return;
        }
        if (replayLength + n > buffer.length) {
          buffer = Arrays.copyOf(buffer,
              Math.min(policy.replayBufferBytes(), Math.max(replayLength + n, buffer.length * 2)));
          replayBuffer = buffer;
        }
        chunk.getByteBuffer().get(buffer, replayLength, n);
        replayLength += n;
      }
      boolean last = chunk.isLast();
      chunk.release();
      if (last) {
        bytesIn += replayLength;
        if (prepare(first)) {
          send();
        }
        return;
      }
    }
  }

  /** The body outgrew the replay buffer: stream it (what was read first), and never retry it. */
  private void tooLargeToReplay(Endpoint first, byte[] buffer, Content.Chunk chunk) {
    int n = chunk.remaining();
    byte[] head = Arrays.copyOf(buffer, replayLength + n);
    chunk.getByteBuffer().get(head, replayLength, n);
    boolean last = chunk.isLast();
    chunk.release();
    replayBuffer = null;
    replayLength = 0;
    ProxyRequestContent b = new ProxyRequestContent(this, clientRequest, false);
    body = b;
    if (!prepare(first)) {
      return;
    }
    b.pushBack(Content.Chunk.from(ByteBuffer.wrap(head), last));
    send();
  }

  // --- the tries

  /**
   * Builds the try towards {@code endpoint} with what the body is now (buffered, streamed or none).
   * False when the request was answered (before, or while this ran): nothing more to do.
   */
  private boolean prepare(Endpoint endpoint) {
    if (!STATE.compareAndSet(this, State.IDLE, State.PREPARING)) {
      return false;
    }
    Attempt a;
    try {
      org.eclipse.jetty.client.Request.@Nullable Content content = null;
      long replayed = 0;
      byte[] replay = replayBuffer;
      ProxyRequestContent b = body;
      boolean chunked = false;
      if (replay != null) {
        content = new ByteBufferRequestContent((String) null, ByteBuffer.wrap(replay, 0, replayLength));
        replayed = replayLength;
      } else if (b != null) {
        content = b; // a stale-connection retry's is what was sent, then the rest
        chunked = clientRequest.getLength() < 0; // chunked: the client's trailers pass on, filtered
      }
      a = new Attempt(this, ctx, clientRequest, clientResponse, Objects.requireNonNull(route), faults, endpoint,
          target, generatedRequestId, content, replayed, chunked ? this::proxyRequestTrailers : null);
    } catch (RuntimeException x) {
      state = State.IDLE; // startFailed() answers
      throw x;
    }
    generatedRequestId = a.requestId();
    current = a;
    state = State.IDLE;
    if (requestTimedOut) { // the request timeout fired while this ran
      sendError(504, HttpProxyStats.ErrorKind.GATEWAY_TIMEOUT, false);
      return false;
    }
    return true;
  }

  private @Nullable HttpFields proxyRequestTrailers() {
    return HeaderPolicy.proxyRequestTrailers(requestTrailers, ctx.config(), route);
  }

  /** Hands the current try to Jetty, unless a delay fault, the pending limit or the client says otherwise. */
  private void send() {
    Attempt a = current;
    if (a == null || state != State.IDLE) {
      return;
    }
    FaultPlan plan = faults;
    long delay = plan == null ? 0 : plan.takeRequestDelay();
    if (delay > 0) { // a delay fault: send later, no thread waits
      ctx.timeouts().afterNanos(delay, this::send);
      return;
    }
    if (!STATE.compareAndSet(this, State.IDLE, State.IN_FLIGHT)) {
      return; // answered first
    }
    if (!acquirePending()) {
      return;
    }
    if (clientGone || clientBodyFailed) {
      endBetweenTries();
      return;
    }
    a.send(policy);
  }

  @Override
  public boolean keepForReplay() {
    Attempt a = current;
    return a != null && staleRetries < 2 && a.keepsForReplay();
  }

  /** The current try's server response began: what it sent of a streamed body is never sent again. */
  void serverResponseBegun() {
    ProxyRequestContent b = body;
    if (b != null) {
      b.dropReplay();
    }
  }

  /** Whether a response of {@code status} is retried by the policy, holding a place in the retry budget. */
  boolean retriesStatus(int status) {
    RetryPolicy p = policy;
    return p.retries() && p.retryOn().contains(status) && mayRetry(HttpProxyStats.RetryReason.STATUS);
  }

  /**
   * Whether the failed try may be retried for {@code reason}, by the rules in {@link RetryPolicy};
   * a true answer holds a place in the retry budget.
   */
  boolean mayRetry(HttpProxyStats.RetryReason reason) {
    Attempt a = current;
    if (state != State.IN_FLIGHT || clientGone || clientBodyFailed || requestTimedOut
        || a != null && a.headForwarded() || clientResponse.isCommitted()) {
      return false;
    }
    boolean replayable = !RequestChecks.hasBody(clientRequest) || replayBuffer != null;
    if (reason == HttpProxyStats.RetryReason.STALE_CONNECTION && staleRetries < 2) {
      ProxyRequestContent streamed = body;
      if (!replayable && streamed != null) {
        ProxyRequestContent next = streamed.replay();
        if (next != null) {
          body = next; // the next try's content
          replayable = true;
        }
      }
      if (!replayable) {
        ctx.counters().retries.notReplayable();
        return false;
      }
      staleRetries++;
      if (!holdsRetryBudget) {
        Objects.requireNonNull(cluster).acquireRetry();
        holdsRetryBudget = true;
      }
      return true;
    }
    RetryPolicy p = policy;
    if (tries + 1 >= p.maxAttempts() || p.idempotentOnly() && !RetryPolicy.idempotent(clientRequest.getMethod())) {
      return false;
    }
    if (!replayable) {
      ctx.counters().retries.notReplayable();
      return false;
    }
    return holdsRetryBudget || acquireRetryBudget(p);
  }

  /** Ends the failed try and starts the next one, on another backend if there is one, after a backoff. */
  void retry(Attempt failed, HttpProxyStats.RetryReason reason) {
    releasePending();
    ctx.counters().retries.retried(reason);
    failed.endForRetry(reason);
    tries++;
    if (!STATE.compareAndSet(this, State.IN_FLIGHT, State.IDLE)) {
      return; // answered meanwhile
    }
    Endpoint previous = failed.endpoint();
    long delay = reason == HttpProxyStats.RetryReason.STALE_CONNECTION ? 0
        : policy.backoffNanos(tries, ThreadLocalRandom.current().nextLong());
    if (delay <= 0) {
      nextTry(previous);
    } else {
      backoff = ctx.timeouts().afterNanos(delay, () -> nextTry(previous));
    }
  }

  private void nextTry(Endpoint previous) {
    backoff = null;
    if (state != State.IDLE) {
      return;
    }
    if (clientGone || clientBodyFailed) { // the client failed while the last try ended
      endBetweenTries();
      return;
    }
    if (requestTimedOut) {
      sendError(504, HttpProxyStats.ErrorKind.GATEWAY_TIMEOUT, false);
      return;
    }
    Endpoint next = Objects.requireNonNull(cluster).pick(key, tries, previous);
    if (next == null) {
      sendError(503, HttpProxyStats.ErrorKind.NO_BACKEND, false);
      return;
    }
    if (prepare(next)) {
      send();
    }
  }

  /** The try failed and is not retried: answer the client (or end, if it is gone). */
  void tryFailed(Attempt a, Throwable failure) {
    if (!a.headForwarded() && !claim()) {
      return; // answered by someone else
    }
    if (clientGone) {
      finish(0, HttpProxyStats.ErrorKind.CLIENT_ABORTED, failure);
    } else if (clientBodyFailed) {
      writeError(400, HttpProxyStats.ErrorKind.BAD_REQUEST, true);
    } else if (failure instanceof RejectedExecutionException && !clientResponse.isCommitted()) {
      // Jetty's queue of requests waiting for a connection to this backend is full
      writeOverflow(HttpProxyStats.ErrorKind.PENDING_OVERFLOW, "backend " + a.backendName() + " max pending requests");
    } else {
      a.backendFailed();
      if (clientResponse.isCommitted()) {
        // The backend died mid-response: abort the client connection rather than end the body cleanly.
        finish(0, HttpProxyStats.ErrorKind.UPSTREAM_ABORTED, failure);
      } else if (a.timedOut() || failure instanceof TimeoutException) {
        writeError(504, HttpProxyStats.ErrorKind.GATEWAY_TIMEOUT, false);
      } else {
        writeError(502, HttpProxyStats.ErrorKind.BAD_GATEWAY, false);
      }
    }
  }

  private void onRequestTimeout() {
    requestTimedOut = true;
    if (claimBetweenTries()) {
      // nothing in flight (a body still being read, a delay fault, a backoff): answer here
      writeError(504, HttpProxyStats.ErrorKind.GATEWAY_TIMEOUT, false);
      return;
    }
    Attempt a = current;
    State s = state;
    if (a != null && (s == State.IN_FLIGHT || s == State.ANSWERING)) {
      a.requestTimedOut();
    }
  }

  // --- admission: every call on the cluster's permits is here

  /** Takes a place in the cluster's pending limit for the try being sent; false when it answered 503. */
  private boolean acquirePending() {
    Cluster c = Objects.requireNonNull(cluster);
    if (!c.tryAcquirePending()) { // the pending circuit breaker: too many wait for a connection
      sendOverflow(HttpProxyStats.ErrorKind.PENDING_OVERFLOW, "cluster " + c.name() + " max pending requests");
      return false;
    }
    PENDING.set(this, 1);
    if (state != State.IN_FLIGHT) { // answered meanwhile: its finish() released nothing
      releasePending();
      return false;
    }
    return true;
  }

  /** The try no longer waits for a connection: its place in the cluster's pending limit is free. */
  void releasePending() {
    Cluster c = cluster;
    if (c != null && PENDING.compareAndSet(this, 1, 0)) {
      c.releasePending();
    }
  }

  /** Takes a place in the cluster's retry budget, as large as {@code p} says; a refusal is counted. */
  private boolean acquireRetryBudget(RetryPolicy p) {
    if (!Objects.requireNonNull(cluster).tryAcquireRetry(p.budgetPercent(), p.minRetries())) {
      ctx.counters().retries.budgetExhausted();
      return false;
    }
    holdsRetryBudget = true;
    return true;
  }

  /** Gives back every permit this request holds. */
  private void releaseAdmission() {
    releasePending();
    Cluster admitted = cluster;
    if (admitted != null) {
      admitted.release();
      if (holdsRetryBudget) {
        admitted.releaseRetry();
      }
    }
  }

  // --- the client's side: its body, its failures, its leaving

  @Override
  public void bodyRead(int n) {
    bytesIn += n;
    Attempt a = current;
    if (a != null) {
      a.sentBytes(n);
    }
  }

  @Override
  public void bodyReplayed(int n) {
    Attempt a = current;
    if (a != null) {
      a.sentBytes(n);
    }
  }

  @Override
  public void bodyTrailers(HttpFields trailers) {
    requestTrailers = trailers;
  }

  @Override
  public void bodyEnded() {
    bodyEnded = true;
  }

  /** Reading the client's body failed: malformed (400) or the client went away (counted as such). */
  @Override
  public void bodyFailed(@Nullable Throwable failure) {
    if (RequestChecks.malformed(clientRequest, failure)) {
      clientBodyFailed = true;
    } else {
      clientGone = true;
    }
  }

  /** The client can no longer be written to: whatever fails now is not the backend's fault. */
  void clientGone() {
    clientGone = true;
  }

  /** Ends the exchange the client's body failure ended before anything was sent. */
  private void bodyFailedEarly(Content.Chunk chunk) {
    if (!claim()) {
      return; // answered: its finish() releases what is held
    }
    if (RequestChecks.malformed(clientRequest, chunk.getFailure())) {
      clientBodyFailed = true;
      writeError(400, HttpProxyStats.ErrorKind.BAD_REQUEST, true);
    } else {
      clientGone = true;
      finish(0, HttpProxyStats.ErrorKind.CLIENT_ABORTED, chunk.getFailure());
    }
  }

  private void onClientFailure(Throwable failure) {
    bodyFailed(failure);
    if (claimBetweenTries()) {
      endBetweenTriesClaimed();
      return;
    }
    Attempt a = current;
    if (a != null) {
      a.abort(failure);
    }
  }

  /** The client left or sent a malformed body while no try was in flight: end the exchange. */
  private void endBetweenTries() {
    if (claim()) {
      endBetweenTriesClaimed();
    }
  }

  private void endBetweenTriesClaimed() {
    if (clientBodyFailed) {
      writeError(400, HttpProxyStats.ErrorKind.BAD_REQUEST, true);
    } else {
      finish(0, HttpProxyStats.ErrorKind.CLIENT_ABORTED, new EofException("client gone between tries"));
    }
  }

  /** The server has been silent a while: watch the client's connection for it leaving. */
  void watchClient() {
    ClientWatcher watcher = ctx.clientWatcher();
    if (watcher == null || clientWatch != null
        || RequestChecks.hasBody(clientRequest) && !bodyEnded && replayBuffer == null) {
      return; // while Jetty still reads the body it sees the client leave by itself
    }
    if (clientRequest.getConnectionMetaData().getConnection().getEndPoint().getTransport()
        instanceof SocketChannel channel) {
      ClientWatcher.Watch w = watcher.watch(channel, this::onClientVanished);
      clientWatch = w;
      if (w != null && state == State.DONE) {
        w.cancel();
      }
    }
  }

  /** The client closed or reset its connection while the server was silent: abort the try. */
  private void onClientVanished() {
    if (state == State.DONE) {
      return;
    }
    clientGone = true;
    EofException gone = new EofException("client closed the connection while the backend was silent");
    // closed first, so that nothing (not Jetty's error page either) is written to a half-closed client
    clientRequest.getConnectionMetaData().getConnection().getEndPoint().close();
    if (claimBetweenTries()) {
      finish(0, HttpProxyStats.ErrorKind.CLIENT_ABORTED, gone);
      return;
    }
    Attempt a = current;
    if (a != null) {
      a.abort(gone); // then its failure ends the exchange as CLIENT_ABORTED
    }
  }

  /**
   * {@link #start} threw (a route matcher on an odd request, say): answer 400 if the response is
   * still ours to write, and end the exchange so the counters stay balanced.
   */
  void startFailed(RuntimeException failure) {
    if (state == State.DONE) {
      return;
    }
    clientBodyFailed = true; // whatever happens to a try now is not the backend's fault
    Attempt a = current;
    if (a != null) {
      a.abort(failure);
    }
    if (claim()) {
      if (!clientResponse.isCommitted()) {
        writeError(400, HttpProxyStats.ErrorKind.BAD_REQUEST, true);
      } else {
        finish(0, HttpProxyStats.ErrorKind.BAD_REQUEST, failure);
      }
    }
  }

  // --- who answers: the one state

  /** Takes the answer: true for exactly one caller, which then writes the client response and finishes. */
  boolean claim() {
    return STATE.compareAndSet(this, State.IDLE, State.ANSWERING)
        || STATE.compareAndSet(this, State.IN_FLIGHT, State.ANSWERING);
  }

  /** Takes the answer when no try is in flight, cancelling a backoff's next try. */
  private boolean claimBetweenTries() {
    if (!STATE.compareAndSet(this, State.IDLE, State.ANSWERING)) {
      return false;
    }
    Timeouts.cancel(backoff);
    return true;
  }

  /** A local answer from the try's side (a refused response head). */
  void answerError(int status, HttpProxyStats.ErrorKind kind) {
    sendError(status, kind, false);
  }

  private void sendError(int status, HttpProxyStats.ErrorKind kind, boolean close) {
    if (claim()) {
      writeError(status, kind, close);
    }
  }

  private void sendOverflow(HttpProxyStats.ErrorKind kind, String why) {
    if (claim()) {
      writeOverflow(kind, why);
    }
  }

  private void sendFault(int status) {
    if (claim()) {
      LocalAnswer.fault(clientResponse, status, Callback.from(
          () -> finish(status, null, null),
          x -> finish(status, HttpProxyStats.ErrorKind.CLIENT_ABORTED, x)));
    }
  }

  /** Writes an error answer; the caller holds the answer. */
  private void writeError(int status, HttpProxyStats.ErrorKind kind, boolean close) {
    if (clientResponse.isCommitted()) {
      finish(0, kind, new IllegalStateException(status + " after the response was committed"));
      return;
    }
    LocalAnswer.error(clientResponse, status, close, Callback.from(
        () -> finish(status, kind, null),
        x -> finish(status, kind, x)));
  }

  /** Writes the circuit breaker's 503; the caller holds the answer. */
  private void writeOverflow(HttpProxyStats.ErrorKind kind, String why) {
    if (clientResponse.isCommitted()) {
      finish(0, kind, new IllegalStateException("503 after the response was committed"));
      return;
    }
    LocalAnswer.overflow(clientResponse, why, Callback.from(
        () -> finish(503, kind, null),
        x -> finish(503, kind, x)));
  }

  // --- the end

  /** Ends the exchange once: permits, counters, access log, journal, then Jetty's callback. */
  void finish(int status, HttpProxyStats.@Nullable ErrorKind kind, @Nullable Throwable failure) {
    if (STATE.getAndSet(this, State.DONE) == State.DONE) {
      return;
    }
    ClientWatcher.Watch watch = clientWatch;
    if (watch != null) {
      watch.cancel(); // before the callback: the connection is Jetty's alone again
    }
    Timeouts.cancel(requestTimeout);
    releaseAdmission();
    ProxyRequestContent b = body;
    if (b != null) {
      b.discard();
    }
    Attempt a = current;
    Attempt live = a != null && !a.ended() ? a : null; // between tries, the last one has ended already
    long in = b != null || replayBuffer != null ? bytesIn : 0;
    long out = a == null ? 0 : a.bytesOut();
    Counters total = ctx.counters().total;
    Counters rc = routeCounters;
    if (kind != null) {
      total.error(kind);
      if (rc != null) {
        rc.error(kind);
      }
    }
    total.bytesIn(in);
    total.bytesOut(out);
    if (rc != null) {
      rc.bytesIn(in);
      rc.bytesOut(out);
      rc.end(status);
    }
    if (live != null) {
      live.end(status, kind, in, out);
    }
    Endpoint e = live == null ? null : live.endpoint();
    if (ctx.config().accessLog() && AccessLog.enabled()) {
      HttpRoute r = route;
      AccessLog.write(ctx.client().getExecutor(), clientRequest, status, r == null ? "-" : r.name(),
          e == null ? "-" : e.backend().displayName(), live == null ? -1 : live.serverHeadMicros(),
          (System.nanoTime() - startNanos) / 1000, in, out, kind);
    }
    if (failure == null) {
      ctx.timeouts().responseDone(clientRequest);
    }
    // every count first, then the journal entry, then in flight: a test that saw the entry (awaitRequests)
    // or no request in flight (awaitIdle) reads final stats
    total.counted(status);
    if (ctx.journal().capacity() > 0) {
      HttpRoute r = route;
      FaultPlan plan = faults;
      journal(new HttpEvent.Completed(requestId, clientRequest.getMethod(), clientRequest.getHttpURI().getPathQuery(),
          r == null ? null : r.name(), e == null ? null : e.backend(), status,
          plan == null ? List.of() : plan.kinds, Instant.now()));
    }
    ctx.counters().ended(total.left());
    if (failure == null) {
      callback.succeeded();
    } else {
      callback.failed(failure);
    }
  }

  /** The one writer of this request's journal entries, stamped with the generation it arrived in. */
  private void journal(HttpEvent event) {
    ctx.journal().record(event, journalGeneration);
  }
}
