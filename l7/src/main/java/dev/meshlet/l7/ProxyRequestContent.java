package dev.meshlet.l7;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.concurrent.locks.ReentrantLock;
import org.eclipse.jetty.http.HttpFields;
import org.eclipse.jetty.http.Trailers;
import org.eclipse.jetty.io.Content;
import org.eclipse.jetty.server.Request;
import org.jspecify.annotations.Nullable;

/**
 * The client's request body as the proxy request's content: read on demand, chunk by chunk,
 * straight from the client request. Optionally gated until the backend answers {@code 100
 * Continue}, so that the client is told to send its body only when the backend wants it.
 *
 * <p>What it hands to the proxy client is also copied, up to {@link #REPLAY_WINDOW} bytes, so that
 * a try that failed on a stale pooled connection can be made again with {@link #replay()}: the copy
 * first, then the rest of the client's body as it arrives. A body that went past the window cannot
 * be replayed. Copies are made only while the try runs on a reused connection (a fresh one is never
 * stale) and dropped once its response begins.
 *
 * <p>When the proxy request fails ({@link #fail}), the client's request is left alone: the exchange
 * decides between a retry and an answer, Jetty discards the unread rest of the body when the
 * exchange ends, and a chunk still pending here stays for {@link #replay()} or {@link #discard()}.
 */
final class ProxyRequestContent implements org.eclipse.jetty.client.Request.Content {
  /**
   * The proxy request's attribute holding its streamed content, which the backend's 100 Continue
   * opens.
   */
  static final String ATTRIBUTE = "dev.meshlet.l7.proxy-request-content";

  /** Who is told what the client's body did as it is read. */
  interface Listener {
    /** {@code n} bytes of the client's body were read. */
    void bodyRead(int n);

    /** {@code n} bytes a failed try sent go to the next try's backend again. */
    void bodyReplayed(int n);

    /** Whether what goes to the current try must be kept for a stale-connection retry. */
    boolean keepForReplay();

    /** Reading the client's body failed. */
    void bodyFailed(@Nullable Throwable failure);

    /** The client's body ended with trailers. */
    void bodyTrailers(HttpFields trailers);

    /** The client's body was read to its end. */
    void bodyEnded();
  }

  /** The most of a streamed body kept for a stale-connection retry. */
  static final int REPLAY_WINDOW = 64 * 1024;

  /**
   * The most of a chunked body read ahead before the first try is sent (see {@code
   * RequestBody#readAheadThenSend}): half the window, so that with the one chunk (one Jetty request
   * buffer) that may pass it, what is held still fits the window and a stale-connection retry.
   */
  static final int READ_AHEAD = REPLAY_WINDOW / 2;

  private final Listener listener;
  private final ClientSource source;
  private final ReentrantLock lock = new ReentrantLock();
  private Content.@Nullable Chunk pending;

  /** The array behind a pending chunk that {@link #append} made, appended to in place. */
  private byte @Nullable [] readAhead;

  private boolean gated;
  private @Nullable Runnable gatedDemand;

  /** A copy of what {@link #read()} handed out; null once that outgrew the window. */
  private @Nullable ReplayBuffer sent = new ReplayBuffer(REPLAY_WINDOW, 0);

  private boolean sentLast;

  /** Replaced by the body of a later try: the failed try's sender gets nothing more from it. */
  private boolean retired;

  /** The pending chunk holds bytes a failed try sent already (they count again when sent again). */
  private boolean replayed;

  ProxyRequestContent(Listener listener, Request request, boolean gated) {
    this(listener, new ClientSource(request), gated);
  }

  private ProxyRequestContent(Listener listener, ClientSource source, boolean gated) {
    this.listener = listener;
    this.source = source;
    this.gated = gated;
  }

  /**
   * Hands back a chunk read before the proxy request was sent, after those handed back before: one
   * is held as it is, more are copied together into one chunk (in an array grown like the replay
   * copy), so that they still go to the backend, and into a replay, as one pending chunk.
   *
   * @return the bytes held now
   */
  int pushBack(Content.Chunk chunk) {
    count(chunk);
    lock.lock();
    try {
      Content.Chunk p = pending;
      if (p == null) {
        pending = chunk;
        return size(chunk);
      }
      return append(p, chunk);
    } finally {
      lock.unlock();
    }
  }

  /**
   * Whether the whole body is one pending empty last chunk, nothing sent yet: a body that turned
   * out to be none.
   */
  boolean endsEmpty() {
    lock.lock();
    try {
      Content.Chunk p = pending;
      return p != null
          && p.isLast()
          && !p.hasRemaining()
          && !(p instanceof Trailers)
          && !Content.Chunk.isFailure(p)
          && !replayed;
    } finally {
      lock.unlock();
    }
  }

  /** Copies {@code chunk} after the pending {@code p}; releases both. Called holding the lock. */
  private int append(Content.Chunk p, Content.Chunk chunk) {
    int held = size(p);
    int n = size(chunk);
    int needed = held + n;
    ByteBuffer pb = p.getByteBuffer();
    byte[] a = readAhead;
    if (a == null || !pb.hasArray() || pb.array() != a) { // p is still Jetty's: copy it out
      a = new byte[Math.max(needed, Math.min(READ_AHEAD, 2 * needed))];
      pb.get(a, 0, held);
      p.release();
    } else if (needed > a.length) {
      a = Arrays.copyOf(a, Math.max(needed, Math.min(READ_AHEAD, 2 * a.length)));
    }
    if (n > 0) {
      chunk.getByteBuffer().get(a, held, n);
    }
    chunk.release();
    readAhead = a;
    pending = Content.Chunk.from(ByteBuffer.wrap(a, 0, needed), chunk.isLast());
    return needed;
  }

  private static int size(Content.Chunk chunk) {
    return chunk instanceof Trailers
        ? 0
        : chunk.remaining(); // trailers go to the backend by the trailers supplier
  }

  /**
   * A body for the next try that sends again what this one sent, then reads on from the client;
   * null when that is no longer possible (more than the window was sent).
   */
  @Nullable ProxyRequestContent replay() {
    lock.lock();
    try {
      ReplayBuffer copy = sent;
      if (copy == null) {
        return null;
      }
      ProxyRequestContent next = new ProxyRequestContent(listener, source, gated);
      Content.Chunk p = pending;
      if (p != null) {
        // never handed out: move it over as it is, after what was sent
        pending = null;
        if (copy.length() > 0) {
          next.pending =
              Content.Chunk.from(ByteBuffer.wrap(copy.with(p.getByteBuffer())), p.isLast());
          next.replayed = true;
          p.release();
        } else {
          next.pending = p;
        }
      } else if (copy.length() > 0 || sentLast) {
        next.pending = Content.Chunk.from(copy.view(), sentLast);
        next.replayed = true;
      }
      retired = true;
      source.forget(); // a demand this try's sender left pending must not call it back
      return next;
    } finally {
      lock.unlock();
    }
  }

  /** The try's response began: what it sent will never be replayed. */
  void dropReplay() {
    lock.lock();
    try {
      sent = null;
    } finally {
      lock.unlock();
    }
  }

  /** The backend sent 100 Continue: let the body flow. */
  void open() {
    Runnable demand;
    lock.lock();
    try {
      gated = false;
      demand = gatedDemand;
      gatedDemand = null;
    } finally {
      lock.unlock();
    }
    if (demand != null) {
      demand.run();
    }
  }

  @Override
  public @Nullable String getContentType() {
    return null; // the Content-Type header is copied with the other headers
  }

  @Override
  public long getLength() {
    return source.request.getLength();
  }

  @Override
  public Content.@Nullable Chunk read() {
    Content.Chunk chunk;
    lock.lock();
    try {
      if (retired) {
        return Content.Chunk.from(new IOException("replaced by a retry"), true);
      }
      if (gated) {
        return null;
      }
      chunk = pending;
      pending = null;
      if (chunk != null && replayed) {
        replayed = false;
        listener.bodyReplayed(chunk.remaining());
      }
    } finally {
      lock.unlock();
    }
    if (chunk == null) {
      chunk = source.request.read();
      if (chunk == null) {
        return null;
      }
      count(chunk);
    }
    keep(chunk);
    return chunk;
  }

  /** Copies what is handed out while it fits the replay window. */
  private void keep(Content.Chunk chunk) {
    if (Content.Chunk.isFailure(chunk)) {
      return;
    }
    boolean wanted = listener.keepForReplay();
    lock.lock();
    try {
      ReplayBuffer copy = sent;
      if (copy == null) {
        return;
      }
      if (!wanted) { // a fresh connection, or no stale retry left: nothing will be replayed
        sent = null;
        return;
      }
      if (!(chunk instanceof Trailers) && !copy.append(chunk.getByteBuffer())) {
        sent = null;
        return;
      }
      sentLast |= chunk.isLast();
    } finally {
      lock.unlock();
    }
  }

  private void count(Content.Chunk chunk) {
    if (Content.Chunk.isFailure(chunk)) {
      listener.bodyFailed(chunk.getFailure());
    } else if (chunk instanceof Trailers trailers) {
      listener.bodyTrailers(trailers.getTrailers());
    } else {
      listener.bodyRead(chunk.remaining());
    }
    if (chunk.isLast() && !Content.Chunk.isFailure(chunk)) {
      listener.bodyEnded();
    }
  }

  @Override
  public void demand(Runnable demandCallback) {
    boolean runNow;
    lock.lock();
    try {
      if (gated) {
        gatedDemand = demandCallback;
        return;
      }
      runNow = pending != null || retired;
    } finally {
      lock.unlock();
    }
    if (runNow) {
      demandCallback.run();
    } else {
      source.demand(demandCallback);
    }
  }

  /**
   * The proxy request failed. The client's request is left alone: the exchange decides between a
   * retry and an answer, and Jetty discards whatever of the body is left unread when it ends.
   */
  @Override
  public void fail(Throwable failure) {
    // nothing to do: see the class comment on why the client's request is left alone
  }

  /** The exchange ended: releases a chunk that was never handed out. */
  void discard() {
    Content.Chunk p;
    lock.lock();
    try {
      p = pending;
      pending = null;
    } finally {
      lock.unlock();
    }
    if (p != null) {
      p.release();
    }
  }

  @Override
  public boolean rewind() {
    return false;
  }

  /**
   * Whether the proxy request's sender has nothing left to send and waits for the client's next
   * bytes: no chunk held, and its demand is pending on the client's request.
   */
  boolean waitsForClient() {
    lock.lock();
    try {
      if (pending != null || gated || retired) {
        return false;
      }
    } finally {
      lock.unlock();
    }
    return source.waiting();
  }

  /**
   * The client's request as a source shared by the bodies of successive tries: Jetty allows one
   * pending demand on it, and a demand the failed try's sender left pending must wake the next try.
   */
  private static final class ClientSource {
    final Request request;
    private final ReentrantLock lock = new ReentrantLock();
    private @Nullable Runnable waiting;
    private boolean demanded;

    ClientSource(Request request) {
      this.request = request;
    }

    void demand(Runnable callback) {
      lock.lock();
      try {
        waiting = callback;
        if (demanded) {
          return;
        }
        demanded = true;
      } finally {
        lock.unlock();
      }
      request.demand(this::available);
    }

    boolean waiting() {
      lock.lock();
      try {
        return demanded && waiting != null;
      } finally {
        lock.unlock();
      }
    }

    void forget() {
      lock.lock();
      try {
        waiting = null;
      } finally {
        lock.unlock();
      }
    }

    private void available() {
      Runnable callback;
      lock.lock();
      try {
        demanded = false;
        callback = waiting;
        waiting = null;
      } finally {
        lock.unlock();
      }
      if (callback != null) {
        callback.run();
      }
    }
  }
}
