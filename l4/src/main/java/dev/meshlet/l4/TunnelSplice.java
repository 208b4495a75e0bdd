package dev.meshlet.l4;

import dev.meshlet.l4.internal.Pipe;
import dev.meshlet.l4.internal.TunnelSplicer;
import java.net.SocketTimeoutException;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * An upgraded connection's two ends, spliced as a TCP connection is: a {@link Direction} each way
 * through the toxics in effect, an end of stream passed on as a half-close, a failure on one end
 * reset on both. It ends once, through {@link #end}, and then tells its owner.
 */
final class TunnelSplice extends Splice {
  private final TunnelSplicing owner;
  private final Pipe client;
  private final Pipe backend;
  private final TunnelSplicer.Ended ended;
  final Direction toBackend;
  final Direction toClient;
  private final AtomicBoolean over = new AtomicBoolean();
  private volatile boolean closing;

  TunnelSplice(
      TunnelSplicing owner, long id, Pipe client, Pipe backend, TunnelSplicer.Ended ended) {
    super(id);
    this.owner = owner;
    this.client = client;
    this.backend = backend;
    this.ended = ended;
    Wire c = Wire.of(client);
    Wire b = Wire.of(backend);
    toBackend = Direction.toBackend(this, owner, c);
    toClient = Direction.toClient(this, owner, c);
    toBackend.dialled(b, null);
    toClient.dialled(b, null);
  }

  /** Starts both directions, each on a new virtual thread of the owner. */
  void start() {
    try {
      owner.execute(toClient::pipe);
    } catch (RejectedExecutionException closing) {
      end(Cause.PROXY_CLOSED, Cause.PROXY_CLOSED.label(), true);
      return;
    }
    try {
      owner.execute(toBackend::pipe);
    } catch (RejectedExecutionException closing) {
      directionEnded(); // the backend-bound direction never ran; the other one ends the splice
      end(Cause.PROXY_CLOSED, Cause.PROXY_CLOSED.label(), true);
    }
  }

  @Override
  Direction direction(Toxic.Direction side) {
    return side == Toxic.Direction.UPSTREAM ? toBackend : toClient;
  }

  @Override
  boolean isClosing() {
    return closing;
  }

  @Override
  void failed(Throwable why) {
    if (closing) {
      return;
    }
    if (why instanceof SocketTimeoutException) { // an end's idle timeout: closed, as at L4
      end(Cause.IDLE_TIMEOUT, Cause.IDLE_TIMEOUT.label(), false);
    } else {
      end(Cause.RESET, Cause.RESET.label(), true);
    }
  }

  @Override
  void end(Cause how, String why, boolean reset) {
    if (!over.compareAndSet(false, true)) {
      return;
    }
    closing = true;
    owner.counters().ended(how);
    toBackend.closeLine();
    toClient.closeLine();
    if (!reset && how != Cause.CLOSED) { // CLOSED: both ends have had their end of stream
      shutdownQuietly(client);
      shutdownQuietly(backend);
    }
    client.close(reset);
    backend.close(reset);
    owner.ended(this);
    ended.ended(toBackend.bytes(), toClient.bytes(), why);
  }

  private static void shutdownQuietly(Pipe p) {
    try {
      p.shutdownOutput();
    } catch (Exception ignored) {
      // closed already
    }
  }

  @Override
  public String toString() {
    return "tunnel " + id;
  }
}
