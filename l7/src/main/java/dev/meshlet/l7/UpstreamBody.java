package dev.meshlet.l7;

import java.util.concurrent.locks.ReentrantLock;
import org.eclipse.jetty.http.Trailers;
import org.eclipse.jetty.io.Content;
import org.eclipse.jetty.server.Request;
import org.jspecify.annotations.Nullable;

/**
 * The client's request body as the upstream request's content: read on demand, chunk by chunk,
 * straight from Jetty's server request. Optionally gated until the backend answers {@code 100
 * Continue}, so that the client is told to send its body only when the backend wants it.
 */
final class UpstreamBody implements org.eclipse.jetty.client.Request.Content {
  private final Exchange exchange;
  private final Request request;
  private final ReentrantLock lock = new ReentrantLock();
  private Content.@Nullable Chunk pending;
  private boolean gated;
  private @Nullable Runnable gatedDemand;

  UpstreamBody(Exchange exchange, Request request, boolean gated) {
    this.exchange = exchange;
    this.request = request;
    this.gated = gated;
  }

  /** Hands back a chunk read before the upstream request was sent. */
  void pushBack(Content.Chunk chunk) {
    lock.lock();
    try {
      pending = chunk;
    } finally {
      lock.unlock();
    }
    count(chunk);
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
    return request.getLength();
  }

  @Override
  public Content.@Nullable Chunk read() {
    lock.lock();
    try {
      if (gated) {
        return null;
      }
      Content.Chunk p = pending;
      if (p != null) {
        pending = null;
        return p;
      }
    } finally {
      lock.unlock();
    }
    Content.Chunk chunk = request.read();
    if (chunk != null) {
      count(chunk);
    }
    return chunk;
  }

  private void count(Content.Chunk chunk) {
    if (Content.Chunk.isFailure(chunk)) {
      exchange.onClientBodyFailure(chunk.getFailure());
    } else if (chunk instanceof Trailers trailers) {
      exchange.requestTrailers(trailers.getTrailers());
    } else {
      exchange.countBytesIn(chunk.remaining());
    }
    if (chunk.isLast() && !Content.Chunk.isFailure(chunk)) {
      exchange.requestBodyRead();
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
      runNow = pending != null;
    } finally {
      lock.unlock();
    }
    if (runNow) {
      demandCallback.run();
    } else {
      request.demand(demandCallback);
    }
  }

  @Override
  public void fail(Throwable failure) {
    request.fail(failure);
  }

  @Override
  public boolean rewind() {
    return false;
  }
}
