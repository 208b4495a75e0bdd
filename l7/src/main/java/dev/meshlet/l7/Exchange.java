package dev.meshlet.l7;

import dev.meshlet.core.Cluster;
import dev.meshlet.core.Endpoint;
import java.util.Objects;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicReferenceFieldUpdater;
import org.eclipse.jetty.io.Content;
import org.eclipse.jetty.io.EofException;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.Callback;
import org.jspecify.annotations.Nullable;

/**
 * One proxied request, from the client request (client→proxy) to the end of the client response
 * (proxy→client), made of one {@link Attempt} per try (proxy→server and server→proxy).
 *
 * <p>It owns what only it can own: who answers the client, once; when to take and give back its
 * {@link Permits} (the cluster's circuit breaker, pending limit and retry budget); the retry loop.
 * The client's body is its {@link RequestBody}'s, the end of the request is written down by the
 * {@link Ledger}, where it goes is its {@link RouteChoice}. Everything runs on Jetty's callbacks
 * and the scheduler; nothing waits. The Jetty {@code callback} is completed exactly once, in {@link
 * #finish}.
 *
 * <p>Who answers the client is one {@link AnswerState}, whose transitions are tabled there.
 */
final class Exchange implements RequestBody.Owner {
  private static final AtomicReferenceFieldUpdater<Exchange, AnswerState> STATE =
      AtomicReferenceFieldUpdater.newUpdater(Exchange.class, AnswerState.class, "state");

  private final ProxyContext ctx;
  private final RouteTable table;
  private final Request clientRequest;
  private final Response clientResponse;
  private final Callback callback;
  private final long startNanos = System.nanoTime();

  /** The request's number and journal generation, where it and its tries are written down. */
  private final RequestRecord record;

  private volatile AnswerState state = AnswerState.IDLE;

  // routing, decided once in start()
  private @Nullable HttpRoute route;
  private @Nullable Counters routeCounters;

  /** The faults drawn for this request; null (the usual case) when none applies. */
  private @Nullable FaultPlan faults;

  /** The retry loop's state and rules; null until admitted. */
  private @Nullable RetryLoop retries;

  private String target = "/";

  /**
   * The places this request holds in its cluster's limits, closed in finish(); null until admitted.
   */
  private @Nullable Permits permits;

  // the retry loop
  private volatile @Nullable Attempt current;

  // the client
  private final ClientSide client = new ClientSide(startNanos);
  private final ExchangeTimers timers;

  /** The client's body; null when the request has none. */
  private @Nullable RequestBody body;

  Exchange(
      ProxyContext ctx,
      RouteTable table,
      Request clientRequest,
      Response clientResponse,
      Callback callback) {
    this.record = ctx.ledger().open();
    this.ctx = ctx;
    this.timers = new ExchangeTimers(ctx.timeouts());
    this.table = table;
    this.clientRequest = clientRequest;
    this.clientResponse = clientResponse;
    this.callback = callback;
  }

  RequestRecord record() {
    return record;
  }

  // --- client -> proxy

  void start() {
    ctx.counters().total.begin();
    if (!ctx.timeouts().headInTime(clientRequest) && claim()) {
      finish(
          0,
          HttpProxyStats.ErrorKind.REQUEST_TIMEOUT,
          new TimeoutException("request head deadline"));
      return;
    }
    RequestChecks.Refusal refusal = RequestChecks.check(clientRequest, ctx.config());
    if (refusal != null) {
      sendError(refusal.status, refusal.kind, true);
      return;
    }
    RouteChoice choice = RouteChoice.of(ctx, table, clientRequest, record);
    route = choice.route();
    routeCounters = choice.counters();
    HttpProxyStats.ErrorKind refused = choice.kind();
    if (refused != null) {
      sendError(choice.refusal(), refused, false);
      return;
    }
    HttpRoute chosen = Objects.requireNonNull(choice.route());
    Cluster c = Objects.requireNonNull(choice.cluster());
    FaultPlan plan = choice.faults();
    faults = plan;
    if (plan != null && plan.aborts()) { // the route's answer, written like the proxy's own
      boolean grpc = Grpc.is(clientRequest);
      int status = plan.abortAnswer(grpc);
      if (claim()) {
        LocalAnswer.fault(
            clientResponse,
            plan,
            grpc,
            Callback.from(
                () -> finish(status, null, null),
                x -> finish(status, HttpProxyStats.ErrorKind.CLIENT_ABORTED, x)));
      }
      return;
    }
    Permits admitted = Permits.enter(c);
    if (admitted == null) { // the circuit breaker: refuse at once, say why
      sendOverflow(HttpProxyStats.ErrorKind.OVERFLOW, "cluster " + c.name() + " max requests");
      return;
    }
    permits = admitted;
    RetryPolicy p = chosen.retryPolicy != null ? chosen.retryPolicy : ctx.config().retryPolicy();
    RetryLoop loop =
        new RetryLoop(p, RequestChecks.clientKey(clientRequest), ctx.counters().retries);
    retries = loop;
    Endpoint picked = loop.first(admitted);
    if (picked == null) {
      sendError(503, HttpProxyStats.ErrorKind.NO_BACKEND, false);
      return;
    }
    target = HeaderPolicy.proxyRequestTarget(clientRequest, chosen);
    clientRequest.addFailureListener(this::onClientFailure);
    timers.requestDeadline(
        Grpc.deadline(ctx.timeouts().request(chosen), chosen, clientRequest),
        this::onRequestTimeout);
    if (!RequestBody.present(clientRequest)) {
      if (prepare(picked)) {
        send();
      }
      return;
    }
    RequestBody b = RequestBody.of(this, clientRequest, ctx.config(), ctx.bodyBudget(), chosen, p);
    body = b;
    b.deadline(ctx.timeouts(), startNanos);
    b.begin(picked);
  }

  // --- the tries

  /**
   * Builds the try towards {@code endpoint} with what the body is now (buffered, streamed or none).
   * False when the request was answered (before, or while this ran): nothing more to do.
   */
  @Override
  public boolean prepare(Endpoint endpoint) {
    if (!STATE.compareAndSet(this, AnswerState.IDLE, AnswerState.PREPARING)) {
      return false;
    }
    Attempt a;
    try {
      a =
          new Attempt(
              this,
              ctx,
              clientRequest,
              clientResponse,
              Objects.requireNonNull(route),
              Objects.requireNonNull(retries).policy(),
              faults,
              endpoint,
              target,
              body);
    } catch (RuntimeException x) {
      state = AnswerState.IDLE; // startFailed() answers
      throw x;
    }
    current = a;
    state = AnswerState.IDLE;
    if (timers.passed()) { // a timeout fired while this ran
      timedOutBetweenTries();
      return false;
    }
    return true;
  }

  @Override
  public boolean waiting() {
    return state == AnswerState.IDLE;
  }

  /**
   * Hands the current try to Jetty, unless a delay fault, the pending limit or the client says
   * otherwise.
   */
  @Override
  public void send() {
    Attempt a = current;
    if (a == null || state != AnswerState.IDLE) {
      return;
    }
    FaultPlan plan = faults;
    long delay = plan == null ? 0 : plan.takeRequestDelay();
    if (delay > 0) { // a delay fault: send later, no thread waits
      ctx.timeouts().afterNanos(delay, this::send);
      return;
    }
    if (!STATE.compareAndSet(this, AnswerState.IDLE, AnswerState.IN_FLIGHT)) {
      return; // answered first
    }
    if (!acquirePending()) {
      return;
    }
    if (client.failed()) {
      endBetweenTries();
    } else {
      a.send();
    }
  }

  /**
   * Whether the failed try (which forwarded no response head) may be retried for {@code reason}, by
   * the rules in {@link RetryPolicy}; a true answer holds a place in the retry budget.
   */
  boolean mayRetry(HttpProxyStats.RetryReason reason) {
    if (state != AnswerState.IN_FLIGHT
        || client.failed()
        || timers.passed()
        || clientResponse.isCommitted()) {
      return false;
    }
    return Objects.requireNonNull(retries)
        .allows(reason, clientRequest.getMethod(), body, Objects.requireNonNull(permits));
  }

  /**
   * Ends the failed try and starts the next one, on another backend if there is one, after a
   * backoff.
   */
  void retry(Attempt failed, HttpProxyStats.RetryReason reason) {
    releasePending();
    long delay = Objects.requireNonNull(retries).retried(reason);
    failed.endForRetry(reason);
    if (!STATE.compareAndSet(this, AnswerState.IN_FLIGHT, AnswerState.IDLE)) {
      return; // answered meanwhile
    }
    Endpoint previous = failed.endpoint();
    if (delay <= 0) {
      nextTry(previous);
    } else {
      timers.backoff(delay, () -> nextTry(previous));
    }
  }

  private void nextTry(Endpoint previous) {
    timers.backoffEnded();
    if (state != AnswerState.IDLE) {
      return;
    }
    if (client.failed()) { // the client failed while the last try ended
      endBetweenTries();
      return;
    }
    if (timers.passed()) {
      timedOutBetweenTries();
      return;
    }
    Endpoint next = Objects.requireNonNull(retries).next(Objects.requireNonNull(permits), previous);
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
    FailedTry answer =
        FailedTry.of(a, failure, client, timers.isBodyLate(), body, clientResponse.isCommitted());
    if (answer.backendFailed()) {
      a.backendFailed();
    }
    if (answer.status() == 0) {
      finish(0, answer.kind(), failure);
    } else {
      write(answer.status(), answer.kind(), answer.reason(), answer.close());
    }
  }

  /** A timeout fired while no try was in flight: 408 when the client's body was late, else 504. */
  private void timedOutBetweenTries() {
    boolean late = timers.isBodyLate();
    HttpProxyStats.ErrorKind kind =
        late ? HttpProxyStats.ErrorKind.REQUEST_TIMEOUT : HttpProxyStats.ErrorKind.GATEWAY_TIMEOUT;
    sendError(late ? 408 : 504, kind, late);
  }

  /** 408 now, or the try's failure answers 408: the client's fault, not its backend's. */
  @Override
  public void bodyTimedOut(long millis) {
    timers.bodyLate();
    if (claimBetweenTries()) {
      write(408, HttpProxyStats.ErrorKind.REQUEST_TIMEOUT, null, true);
      return;
    }
    Attempt a = current;
    if (a != null && !a.headForwarded()) { // a response under way goes on
      a.abort(new TimeoutException("request body not received within " + millis + " ms"));
    }
  }

  private void onRequestTimeout() {
    timers.requestPassed();
    if (claimBetweenTries()) {
      // nothing in flight (a body still being read, a delay fault, a backoff): answer here
      write(504, HttpProxyStats.ErrorKind.GATEWAY_TIMEOUT, null, false);
      return;
    }
    Attempt a = current;
    if (a != null) { // in flight or forwarding (an ended try ignores it)
      a.requestTimedOut();
    }
  }

  // --- admission (the places themselves are Permits')

  /**
   * Takes a place in the cluster's pending limit for the try being sent; false when it answered
   * 503.
   */
  private boolean acquirePending() {
    Permits p = Objects.requireNonNull(permits);
    if (!p.enterPending()) { // the pending circuit breaker: too many wait for a connection
      sendOverflow(
          HttpProxyStats.ErrorKind.PENDING_OVERFLOW,
          "cluster " + p.cluster().name() + " max pending requests");
      return false;
    }
    if (state != AnswerState.IN_FLIGHT) { // answered meanwhile, maybe closing the one before
      p.releasePending();
      return false;
    }
    return true;
  }

  /** The try no longer waits for a connection: its place in the cluster's pending limit is free. */
  void releasePending() {
    Permits p = permits;
    if (p != null) {
      p.releasePending();
    }
  }

  // --- the client's side: its body, its failures, its leaving

  /**
   * Reading the client's body failed: malformed (400) or the client went away (counted as such).
   */
  @Override
  public void bodyFailed(@Nullable Throwable failure) {
    client.bodyFailed(clientRequest, failure);
  }

  /** What the exchange knows of its client; a try notes there that the client left or was cut. */
  ClientSide client() {
    return client;
  }

  /** Ends the exchange the client's body failure ended before anything was sent. */
  @Override
  public void failedEarly(Content.Chunk chunk) {
    if (claim()) { // else answered: its finish() releases what is held
      bodyFailed(chunk.getFailure());
      endForClient(chunk.getFailure());
    }
  }

  private void onClientFailure(Throwable failure) {
    bodyFailed(failure);
    clientFailed(failure);
  }

  /**
   * The client failed: end the exchange if no try is in flight, else abort the try (its failure
   * ends it).
   */
  private void clientFailed(Throwable cause) {
    if (claimBetweenTries()) {
      endForClient(cause);
      return;
    }
    Attempt a = current;
    if (a != null) {
      a.abort(cause);
    }
  }

  /** The client left or sent a malformed body while no try was in flight: end the exchange. */
  private void endBetweenTries() {
    if (claim()) {
      endForClient(new EofException("client gone between tries"));
    }
  }

  /** Ends the exchange for the client's failure; the caller holds the answer. */
  private void endForClient(@Nullable Throwable cause) {
    if (client.malformed()) {
      write(400, HttpProxyStats.ErrorKind.BAD_REQUEST, null, true);
    } else {
      finish(0, HttpProxyStats.ErrorKind.CLIENT_ABORTED, cause);
    }
  }

  /** The server has been silent a while: watch the client's connection for it leaving. */
  void watchClient() {
    client.watch(ctx.clientWatcher(), clientRequest, body, this::onClientVanished);
  }

  /** The client closed or reset its connection while the server was silent: abort the try. */
  private void onClientVanished() {
    if (state == AnswerState.ANSWERING || state == AnswerState.DONE) {
      return;
    }
    clientFailed(client.vanished(clientRequest));
  }

  /**
   * {@link #start} threw (a route matcher on an odd request, say): answer 400 if the response is
   * still ours to write, and end the exchange so the counters stay balanced.
   */
  void startFailed(RuntimeException failure) {
    if (state == AnswerState.DONE) {
      return;
    }
    client.malformedBody(); // whatever happens to a try now is not the backend's fault
    Attempt a = current;
    if (a != null) {
      a.abort(failure);
    }
    if (claim()) { // write() ends it instead, if the response is committed
      write(400, HttpProxyStats.ErrorKind.BAD_REQUEST, null, true);
    }
  }

  // --- who answers: the one state

  /**
   * Takes the answer: true for exactly one caller, which then writes the client response and
   * finishes.
   */
  boolean claim() {
    if (STATE.compareAndSet(this, AnswerState.IDLE, AnswerState.ANSWERING)
        || STATE.compareAndSet(this, AnswerState.IN_FLIGHT, AnswerState.ANSWERING)) {
      client.stopWatching(); // a client may read its answer and close: that is not leaving
      return true;
    }
    return false;
  }

  /** Takes the answer when no try is in flight, cancelling a backoff's next try. */
  private boolean claimBetweenTries() {
    if (!STATE.compareAndSet(this, AnswerState.IDLE, AnswerState.ANSWERING)) {
      return false;
    }
    timers.cancelBackoff();
    return true;
  }

  /** Answers {@code status} from the proxy itself, if no one else answered. */
  void sendError(int status, HttpProxyStats.ErrorKind kind, boolean close) {
    if (claim()) {
      write(status, kind, null, close);
    }
  }

  private void sendOverflow(HttpProxyStats.ErrorKind kind, String why) {
    if (claim()) {
      write(503, kind, why, false);
    }
  }

  /**
   * Writes a local answer, saying why when {@code reason} is set (a circuit breaker's 503), as a
   * gRPC status to a gRPC call; the caller holds the answer.
   */
  private void write(
      int status, HttpProxyStats.ErrorKind kind, @Nullable String reason, boolean close) {
    if (clientResponse.isCommitted()) {
      finish(0, kind, new IllegalStateException(status + " after the response was committed"));
      return;
    }
    if (Grpc.is(clientRequest)) { // a status gRPC clients read, in a Trailers-Only answer
      Callback done = Callback.from(() -> finish(200, kind, null), x -> finish(200, kind, x));
      String message = LocalAnswer.grpcMessage(status, reason);
      int code = Grpc.localStatus(status, kind);
      LocalAnswer.grpc(clientResponse, code, message, status == 503 ? reason : null, close, done);
      return;
    }
    Callback done = Callback.from(() -> finish(status, kind, null), x -> finish(status, kind, x));
    if (reason != null) {
      LocalAnswer.withReason(clientResponse, status, reason, done);
    } else {
      LocalAnswer.error(clientResponse, status, close, done);
    }
  }

  /** Ends the exchange once: permits, counters, access log, journal, then Jetty's callback. */
  void finish(int status, HttpProxyStats.@Nullable ErrorKind kind, @Nullable Throwable failure) {
    if (STATE.getAndSet(this, AnswerState.DONE) == AnswerState.DONE) {
      return;
    }
    client.stopWatching(); // before the callback: the connection is Jetty's alone again
    timers.cancel();
    Permits p = permits;
    if (p != null) {
      p.close();
    }
    RequestBody b = body;
    if (b != null) {
      b.discard();
    }
    Attempt a = current;
    Attempt live = a != null && !a.ended() ? a : null; // between tries the last one has ended
    long in = b == null ? 0 : b.bytesIn();
    long out = a == null ? 0 : a.bytesOut();
    if (live != null) {
      live.end(status, kind, in, out);
    }
    if (failure == null) {
      ctx.timeouts().responseDone(clientRequest);
    }
    if (kind == HttpProxyStats.ErrorKind.CLIENT_ABORTED) {
      client.left(); // noticed only now (a failed write): no status reached it whole
    }
    long left = client.leftNanos();
    ctx.ledger()
        .ended(
            clientRequest,
            clientResponse,
            record,
            startNanos,
            route,
            p == null ? null : p.cluster().name(),
            routeCounters,
            live == null ? null : live.endpoint(),
            live == null ? -1 : live.serverHeadMicros(),
            faults,
            status,
            kind,
            in,
            out,
            left >= 0 ? 0 : status,
            a == null ? 0 : a.serverStatus(),
            left);
    if (failure == null) {
      callback.succeeded();
    } else {
      callback.failed(failure);
    }
  }
}
