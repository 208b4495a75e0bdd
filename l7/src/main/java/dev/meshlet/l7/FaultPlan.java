package dev.meshlet.l7;

import java.io.IOException;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.eclipse.jetty.io.Content;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.Callback;
import org.eclipse.jetty.util.thread.Invocable;
import org.eclipse.jetty.util.thread.Scheduler;
import org.jspecify.annotations.Nullable;

/**
 * The faults drawn for one request, and how they are applied: the delays it hands out once, and the
 * shaped (paced, delayed or cut) write of the response body. Built only for routes that have
 * faults: a route without any costs one array length check per request.
 */
final class FaultPlan {

  /** 0: no abort (or a gRPC one). */
  int abortStatus;

  /** The gRPC status of a gRPC abort; 0: none. */
  int abortGrpc;

  /** Consumed by the first send. */
  private long requestDelayNanos;

  /** Consumed by the first write to the client. */
  private long responseDelayNanos;

  /** Body bytes the client gets before the reset; -1: no reset. */
  private long abortAfter = -1;

  /** 0: unpaced. */
  private long bytesPerSecond;

  private long bodyWritten;
  private long nextWriteNanos;

  /** The simple names of the applied faults, for the journal. */
  final List<String> kinds = new ArrayList<>(2);

  /** The applied faults, in the order drawn. */
  final List<HttpFault> applied = new ArrayList<>(2);

  /** Where a shaped response body goes: the try that forwards it. */
  interface ShapedBody {
    /** {@code n} bytes of the body are being written to the client. */
    void written(int n);

    /** Writing to the client failed: the server response is to be aborted. */
    void clientFailed(Throwable failure);

    /** The abort-body fault cut the response (the client connection will be reset). */
    void cut(IOException why);
  }

  /**
   * Draws the faults of a route ({@code route}: its fault state in the table the request was routed
   * by, null for a route without faults) for a request with {@code head}; null when none applies.
   */
  static @Nullable FaultPlan decide(@Nullable RouteFaults route, RequestHead head, long seed) {
    if (route == null) {
      return null;
    }
    HttpFault[] faults = route.faults;
    FaultPlan plan = null;
    for (int i = 0; i < faults.length; i++) {
      HttpFault f = faults[i];
      String header = f.header();
      if (header != null && head.header(header) == null || !route.applies(i, seed)) {
        continue;
      }
      if (plan == null) {
        plan = new FaultPlan();
      }
      plan.add(f);
    }
    return plan;
  }

  private void add(HttpFault f) {
    applied.add(f);
    kinds.add(f.getClass().getSimpleName());
    switch (f) {
      case HttpFault.Abort a -> {
        if (!aborts()) {
          abortStatus = a.status();
        }
      }
      case HttpFault.GrpcAbort a -> {
        if (!aborts()) {
          abortGrpc = a.code();
        }
      }
      case HttpFault.Delay d -> requestDelayNanos += d.delay().toNanos();
      case HttpFault.ResponseDelay d -> responseDelayNanos += d.delay().toNanos();
      case HttpFault.AbortBody a ->
          abortAfter = abortAfter < 0 ? a.bytes() : Math.min(abortAfter, a.bytes());
      case HttpFault.SlowBody s -> {
        long rate = s.kibPerSecond() * 1024;
        bytesPerSecond = bytesPerSecond == 0 ? rate : Math.min(bytesPerSecond, rate);
      }
    }
  }

  /** Whether an abort fault answers the request (the first drawn wins). */
  boolean aborts() {
    return abortStatus > 0 || abortGrpc > 0;
  }

  /** The HTTP status the abort answers: 200 for a gRPC call or a gRPC abort (Trailers-Only). */
  int abortAnswer(boolean grpc) {
    return abortGrpc > 0 || grpc ? 200 : abortStatus;
  }

  /** Whether the response body needs the shaped (paced, limited or delayed) write path. */
  boolean shapesResponse() {
    return responseDelayNanos > 0 || abortAfter >= 0 || bytesPerSecond > 0;
  }

  /** The request delay, handed out once (the first send waits it); 0 when none is left. */
  long takeRequestDelay() {
    long d = requestDelayNanos;
    requestDelayNanos = 0;
    return d;
  }

  /** The response delay, handed out once (the first write waits it); 0 when none is left. */
  long takeResponseDelay() {
    long d = responseDelayNanos;
    responseDelayNanos = 0;
    return d;
  }

  /**
   * Writes {@code chunk} of the server response to the client as the plan shapes it (after the
   * response delay, paced, cut at the abort point), then runs {@code demander} for the next one.
   */
  void shape(
      Request clientRequest,
      Response clientResponse,
      Scheduler scheduler,
      Content.Chunk chunk,
      Runnable demander,
      ShapedBody target) {
    ByteBuffer buffer = chunk.getByteBuffer();
    chunk.retain();
    long delay = takeResponseDelay();
    if (delay > 0) {
      scheduler.schedule(
          () ->
              writeShaped(
                  clientRequest, clientResponse, scheduler, chunk, buffer, demander, target),
          delay,
          TimeUnit.NANOSECONDS);
      return;
    }
    writeShaped(clientRequest, clientResponse, scheduler, chunk, buffer, demander, target);
  }

  /**
   * Writes the chunk in paced slices and/or up to the abort point; demands more when it is all out.
   */
  private void writeShaped(
      Request clientRequest,
      Response clientResponse,
      Scheduler scheduler,
      Content.Chunk chunk,
      ByteBuffer buffer,
      Runnable demander,
      ShapedBody target) {
    int size = buffer.remaining();
    if (bytesPerSecond > 0) {
      size = (int) Math.min(size, Math.max(1, bytesPerSecond / 20)); // 50 ms worth at a time
    }
    boolean cut = false;
    if (abortAfter >= 0) {
      long left = abortAfter - bodyWritten;
      if (size >= left) {
        size = (int) Math.max(0, left);
        cut = true;
      }
    }
    ByteBuffer part = buffer.slice(buffer.position(), size);
    buffer.position(buffer.position() + size);
    bodyWritten += size;
    target.written(size);
    int written = size;
    boolean reset = cut;
    clientResponse.write(
        false,
        part,
        new Callback() {
          @Override
          public void succeeded() {
            if (reset) {
              chunk.release();
              resetClient(clientRequest, target);
              return;
            }
            Runnable next =
                buffer.hasRemaining()
                    ? () ->
                        writeShaped(
                            clientRequest,
                            clientResponse,
                            scheduler,
                            chunk,
                            buffer,
                            demander,
                            target)
                    : () -> {
                      chunk.release();
                      demander.run();
                    };
            long wait = 0;
            if (bytesPerSecond > 0) {
              long now = System.nanoTime();
              nextWriteNanos =
                  Math.max(nextWriteNanos, now) + written * 1_000_000_000L / bytesPerSecond;
              wait = nextWriteNanos - now;
            }
            if (wait > 0) {
              scheduler.schedule(next, wait, TimeUnit.NANOSECONDS);
            } else {
              next.run();
            }
          }

          @Override
          public void failed(Throwable x) {
            chunk.release();
            target.clientFailed(x);
          }

          @Override
          public Invocable.InvocationType getInvocationType() {
            return Invocable.InvocationType.NON_BLOCKING;
          }
        });
  }

  /** The abort-body fault: RST to the client after the bytes it was allowed. */
  private void resetClient(Request clientRequest, ShapedBody target) {
    IOException why =
        new IOException("meshlet fault: response reset after " + bodyWritten + " body bytes");
    if (clientRequest.getConnectionMetaData().getConnection().getEndPoint().getTransport()
        instanceof SocketChannel ch) {
      try {
        ch.setOption(StandardSocketOptions.SO_LINGER, 0);
      } catch (IOException | RuntimeException ignored) {
        // closed already: the client sees the end either way
      }
    }
    target.cut(why);
  }
}
