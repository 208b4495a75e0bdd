package dev.meshlet.l7;

import dev.meshlet.core.Endpoint;
import java.nio.ByteBuffer;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicLongFieldUpdater;
import java.util.function.Supplier;
import org.eclipse.jetty.client.ByteBufferRequestContent;
import org.eclipse.jetty.http.HttpFields;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.http.HttpVersion;
import org.eclipse.jetty.http.Trailers;
import org.eclipse.jetty.io.Content;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.util.thread.Scheduler;
import org.jspecify.annotations.Nullable;

/**
 * The client request's body as the tries send it, one of two ways, and what was read of it (bytes,
 * trailers, the end). <b>Buffered</b>: read whole before the first try (and before a backend
 * connection is taken) when its length is within the request buffer size, or retries are on and it
 * fits the replay buffer, then sent with its length by every try; its bytes count against the
 * proxy's {@link BodyBudget} as they arrive. <b>Streamed</b>: read as the proxy client asks for it
 * ({@link ProxyRequestContent}), replayable within a window only after a stale pooled connection. A
 * buffered body that outgrows the buffer becomes a streamed one.
 *
 * <p>Made only for a request that has a body. The reads are driven by the exchange ({@link Owner}),
 * which alone decides when a try is built and sent.
 */
final class RequestBody implements ProxyRequestContent.Listener, Supplier<@Nullable HttpFields> {
  /** At most this many stale-connection retries replay a body (as {@link Exchange} allows). */
  static final int STALE_REPLAYS = 2;

  private static final AtomicLongFieldUpdater<RequestBody> BUDGETED =
      AtomicLongFieldUpdater.newUpdater(RequestBody.class, "budgeted");

  /** What the body tells the exchange that reads it. */
  interface Owner {
    /** Whether the exchange still waits for the body to send a try (no answer came first). */
    boolean waiting();

    /** Builds the try towards {@code endpoint}; false when the exchange was answered. */
    boolean prepare(Endpoint endpoint);

    /** Sends the try built last. */
    void send();

    /** Reading the body failed before anything was sent. */
    void failedEarly(Content.Chunk failure);

    /**
     * Reading the body failed: {@code failure} says whether it was malformed or the client left.
     */
    void bodyFailed(@Nullable Throwable failure);

    /** The client's body did not arrive whole within {@code millis}, the request body deadline. */
    void bodyTimedOut(long millis);
  }

  private final Owner owner;
  private final Request clientRequest;
  private final ProxyConfig config;
  private final HttpRoute route;
  private final boolean expectContinue;
  private final BodyBudget budget;

  /** The most bytes of a buffered body the retry policy replays (its replay buffer); 0: none. */
  private int replayLimit;

  /** The bytes the buffer took from the budget; -1 once the exchange ended (nothing more taken). */
  private volatile long budgeted;

  /** The whole body, when buffered for replay; null when streamed. */
  private @Nullable ReplayBuffer buffer;

  /** The streamed body; replaced by a stale-connection retry's replay of it. */
  private @Nullable ProxyRequestContent streamed;

  /** The try the body goes to now. */
  private volatile @Nullable Attempt sink;

  private int staleReplays;
  private volatile boolean ended;
  private volatile Scheduler.@Nullable Task deadline;
  private volatile @Nullable HttpFields trailers;
  private volatile long bytesIn;

  private RequestBody(
      Owner owner,
      Request clientRequest,
      ProxyConfig config,
      HttpRoute route,
      boolean expectContinue,
      BodyBudget budget) {
    this.owner = owner;
    this.budget = budget;
    this.expectContinue = expectContinue;
    this.clientRequest = clientRequest;
    this.config = config;
    this.route = route;
  }

  /** Whether {@code clientRequest} has a body to forward. */
  static boolean present(Request clientRequest) {
    long length = clientRequest.getLength();
    return length > 0
        || (length < 0
            && (clientRequest.getHeaders().contains(HttpHeader.TRANSFER_ENCODING)
                // HTTP/2 frames a body of no declared length by END_STREAM, which may come
                // later: read it, and send none if it turns out empty (see attachTo)
                || clientRequest.getConnectionMetaData().getHttpVersion() == HttpVersion.HTTP_2));
  }

  /**
   * The body of {@code clientRequest} (which {@linkplain #present has one}): buffered when its
   * length is within the request buffer size or, with retries on, it fits {@code policy}'s replay
   * buffer; else (and always when the client expects 100 Continue) streamed.
   */
  static RequestBody of(
      Owner owner,
      Request clientRequest,
      ProxyConfig config,
      BodyBudget budget,
      HttpRoute route,
      RetryPolicy policy) {
    boolean expectContinue = RequestChecks.expectsContinue(clientRequest);
    long length = clientRequest.getLength();
    // a budget of 0 turns buffering off: bodies stream, and that is no fallback to count
    boolean buffering = budget.capacity() > 0;
    int replay = policy.retries() ? policy.replayBufferBytes() : 0;
    boolean forRetries = buffering && replay > 0 && length <= replay;
    boolean small = buffering && length > 0 && length <= config.requestBufferSize();
    if (!expectContinue && (forRetries || small)) {
      // read whole before a backend connection is taken: a slow upload holds none while it
      // trickles in, and every retry can send it again
      RequestBody b = new RequestBody(owner, clientRequest, config, route, false, budget);
      b.buffer = new ReplayBuffer(length >= 0 ? (int) length : replay, 0);
      b.replayLimit = replay;
      return b;
    }
    RequestBody b = new RequestBody(owner, clientRequest, config, route, expectContinue, budget);
    b.streamed = new ProxyRequestContent(b, clientRequest, expectContinue);
    return b;
  }

  /**
   * Starts the first try towards {@code first}: a buffered body is read whole first; a streamed one
   * is read ahead, or waits for the backend's 100 Continue if the client expects one and the proxy
   * request still says so.
   */
  void begin(Endpoint first) {
    if (buffer != null) {
      readWhole(first);
      return;
    }
    if (!owner.prepare(first)) {
      return;
    }
    // Wait for the backend's 100 only if Expect goes to it: a client's "Connection: expect" or a
    // rewrite removing Expect strips it, and a backend never asked would never send the 100.
    Attempt a = Objects.requireNonNull(sink);
    if (!expectContinue
        || !a.proxyRequest.getHeaders().contains(HttpHeader.EXPECT, "100-continue")) {
      open();
      readAheadThenSend();
      return;
    }
    owner.send();
  }

  // --- what each try sends

  /**
   * Gives the next try's proxy request this body as it is now: a buffered body's bytes, or the
   * streamed content (a stale retry's: what was sent, then the rest) with the client's trailers.
   *
   * @return the streamed content, or null for a buffered body
   */
  @Nullable ProxyRequestContent attachTo(org.eclipse.jetty.client.Request proxyRequest) {
    ReplayBuffer b = buffer;
    boolean undeclared = clientRequest.getLength() < 0;
    if (b != null) {
      if (undeclared && b.length() == 0 && trailers == null) {
        return null; // an HTTP/2 request whose stream ended with its head: no body
      }
      proxyRequest.body(new ByteBufferRequestContent((String) null, b.view()));
      if (trailers != null && proxyRequest.getVersion() == HttpVersion.HTTP_2) {
        proxyRequest.trailersSupplier(this); // HTTP/2 (unlike 1.1) has trailers after a length
      }
      return null;
    }
    ProxyRequestContent s = Objects.requireNonNull(streamed);
    proxyRequest.body(s);
    proxyRequest.attribute(ProxyRequestContent.ATTRIBUTE, s); // opened by the backend's 100
    if (clientRequest.getLength() < 0) { // only a chunked body passes trailers on
      proxyRequest.trailersSupplier(this);
    }
    return s;
  }

  /**
   * The bytes {@link #attachTo} sends again (a buffered body's whole length); 0 for a streamed
   * body.
   */
  long replayedBytes() {
    ReplayBuffer b = buffer;
    return b != null ? b.length() : 0;
  }

  /** The client's trailers, filtered, as the proxy request's. */
  @Override
  public @Nullable HttpFields get() {
    return HeaderPolicy.proxyRequestTrailers(trailers, config, route);
  }

  /** The next bytes read go to {@code attempt}'s backend. */
  void sendingTo(Attempt attempt) {
    sink = attempt;
  }

  /** Lets a streamed body flow: the backend was never asked for 100 Continue. */
  private void open() {
    ProxyRequestContent s = streamed;
    if (s != null) {
      s.open();
    }
  }

  // --- reading before the first try

  /** Reads a buffered body to its end, then builds and sends the first try (to {@code first}). */
  private void readWhole(Endpoint first) {
    while (owner.waiting()) {
      Content.Chunk chunk = clientRequest.read();
      if (chunk == null) {
        clientRequest.demand(() -> readWhole(first));
        return;
      }
      if (Content.Chunk.isFailure(chunk)) {
        owner.failedEarly(chunk);
        return;
      }
      ReplayBuffer b = Objects.requireNonNull(buffer);
      if (chunk instanceof Trailers t) {
        trailers = t.getTrailers(); // not forwarded: a replayed body goes with Content-Length
      } else if (chunk.hasRemaining()
          && (!charge(chunk.remaining()) || !b.append(chunk.getByteBuffer()))) {
        tooLargeToReplay(first, b, chunk);
        return;
      }
      boolean last = chunk.isLast();
      chunk.release();
      if (last) {
        bytesIn += b.length();
        arrived();
        if (owner.prepare(first)) {
          owner.send();
        }
        return;
      }
    }
  }

  /**
   * The body outgrew the replay buffer or the budget: stream it (what was read first), and never
   * retry it.
   */
  private void tooLargeToReplay(Endpoint first, ReplayBuffer b, Content.Chunk chunk) {
    byte[] head = b.with(chunk.getByteBuffer());
    boolean last = chunk.isLast();
    chunk.release();
    buffer = null;
    refund(0);
    ProxyRequestContent s = new ProxyRequestContent(this, clientRequest, false);
    streamed = s;
    if (!owner.prepare(first)) {
      return;
    }
    s.pushBack(Content.Chunk.from(ByteBuffer.wrap(head), last));
    owner.send();
  }

  /**
   * Takes {@code n} more bytes from the budget for the buffer; false when it is spent or the
   * exchange ended.
   */
  private boolean charge(int n) {
    if (!budget.take(n)) {
      return false;
    }
    for (; ; ) {
      long held = budgeted;
      if (held < 0) { // ended meanwhile: discard() gave back all it saw
        budget.give(n);
        return false;
      }
      if (BUDGETED.compareAndSet(this, held, held + n)) {
        return true;
      }
    }
  }

  /** Gives the buffer's bytes back to the budget, leaving {@code next} (-1 when it ended). */
  private void refund(long next) {
    for (; ; ) {
      long held = budgeted;
      if (held < 0) {
        return;
      }
      if (BUDGETED.compareAndSet(this, held, next)) {
        if (held > 0) {
          budget.give(held);
        }
        return;
      }
    }
  }

  /**
   * Reads the body Jetty already has before dialing: a framing error in it is then answered 400
   * with nothing sent to the backend. One chunk is not enough for a chunked body: Jetty hands a
   * chunk's data over before it checks the CRLF after it, so a chunk longer than its size, a bad
   * size after it or a malformed trailer in the same packet would fail only once the request was
   * sent. So reads go on until one finds nothing more, the last chunk, or {@link
   * ProxyRequestContent#READ_AHEAD} bytes are held (then it is sent, and a framing error after that
   * aborts it). A Content-Length body has no framing past its length: one chunk.
   */
  private void readAheadThenSend() {
    ProxyRequestContent s = Objects.requireNonNull(streamed);
    boolean holding = false;
    while (owner.waiting()) {
      Content.Chunk chunk = clientRequest.read();
      if (chunk == null) {
        if (!holding) {
          clientRequest.demand(this::readAheadThenSend);
          return;
        }
        break; // the sender reads on (and demands) from here
      }
      if (Content.Chunk.isFailure(chunk)) {
        owner.failedEarly(chunk); // finish() releases what is held
        return;
      }
      holding = true;
      boolean last = chunk.isLast();
      if (s.pushBack(chunk) >= ProxyRequestContent.READ_AHEAD
          || last
          || clientRequest.getLength() >= 0) {
        break;
      }
    }
    if (!owner
        .waiting()) { // answered meanwhile: its finish() may have come before the last pushBack
      s.discard();
      return;
    }
    Attempt a = sink;
    if (a != null && clientRequest.getLength() < 0 && s.endsEmpty()) {
      // an HTTP/2 request whose stream ended with its head: it goes with no body (a GET would
      // otherwise reach an HTTP/1.1 backend chunked)
      a.proxyRequest.body(null);
      a.proxyRequest.trailersSupplier(null);
    }
    owner.send();
  }

  // --- retries

  /**
   * Whether every try can send the whole body: it is buffered and fits the retry policy's replay
   * buffer (a body buffered only to spare a backend connection is not retried past it).
   */
  boolean replayable() {
    ReplayBuffer b = buffer;
    return b != null && b.length() <= replayLimit;
  }

  /**
   * Whether a stale-connection retry can send the body again: buffered, or streamed and what the
   * failed try sent still fits the window (the next try then sends that first).
   */
  boolean replayForStaleRetry() {
    if (buffer == null) {
      ProxyRequestContent s = streamed;
      ProxyRequestContent next = s == null ? null : s.replay();
      if (next == null) {
        return false;
      }
      streamed = next;
    }
    staleReplays++;
    return true;
  }

  /**
   * Whether the proxy still reads the client's body (Jetty then sees the client leave by itself).
   */
  boolean reading() {
    return buffer == null && !ended;
  }

  /**
   * Whether the client is still sending its body to a try in flight: a streamed body not read to
   * its end, and flowing (a body that waits for the backend's 100 Continue is not arriving yet).
   */
  boolean arriving() {
    return buffer == null && !ended && (!expectContinue || bytesIn > 0);
  }

  /**
   * Whether a try went idle for the client, not its backend: the body is still arriving and the
   * proxy has sent all it read of it.
   */
  boolean stalledByClient() {
    ProxyRequestContent s = streamed;
    return arriving() && s != null && s.waitsForClient();
  }

  /** Whether the whole body was read from the client. */
  boolean complete() {
    return ended;
  }

  /** Whether the body waits for the backend's 100 Continue before the client sends it. */
  boolean awaitingContinue() {
    return expectContinue && bytesIn == 0 && !ended;
  }

  /** The body bytes read from the client. */
  long bytesIn() {
    return bytesIn;
  }

  /** The exchange ended: releases what a streamed body holds and gives back the budget's bytes. */
  void discard() {
    Timeouts.cancel(deadline);
    refund(-1);
    ProxyRequestContent s = streamed;
    if (s != null) {
      s.discard();
    }
  }

  // --- what the streamed body reports as it is read

  @Override
  public void bodyRead(int n) {
    bytesIn += n;
    Attempt a = sink;
    if (a != null) {
      a.sentBytes(n);
    }
  }

  @Override
  public void bodyReplayed(int n) {
    Attempt a = sink;
    if (a != null) {
      a.sentBytes(n);
    }
  }

  @Override
  public boolean keepForReplay() {
    Attempt a = sink;
    return a != null && staleReplays < STALE_REPLAYS && a.keepsForReplay();
  }

  @Override
  public void bodyFailed(@Nullable Throwable failure) {
    owner.bodyFailed(failure);
  }

  @Override
  public void bodyTrailers(HttpFields t) {
    trailers = t;
  }

  @Override
  public void bodyEnded() {
    arrived();
  }

  /**
   * The whole body was read: its deadline is met, and the try it goes to starts its response
   * deadline.
   */
  private void arrived() {
    ended = true;
    Timeouts.cancel(deadline);
    Attempt a = sink;
    if (a != null) {
      a.bodyArrived();
    }
  }

  /**
   * Starts the request body deadline ({@link HttpProxyBuilder#requestBodyTimeout}), counted from
   * {@code startNanos}, when the request arrived.
   */
  void deadline(Timeouts timeouts, long startNanos) {
    long millis = config.requestBodyTimeout().toMillis();
    if (millis > 0) {
      long left = startNanos + millis * 1_000_000 - System.nanoTime();
      deadline = timeouts.afterNanos(Math.max(0, left), () -> onDeadline(millis));
    }
  }

  private void onDeadline(long millis) {
    if (!ended && !awaitingContinue()) { // a body the backend never asked for is not late
      owner.bodyTimedOut(millis);
    }
  }
}
