package dev.meshlet.l4.internal;

import dev.meshlet.l4.Toxics;

/**
 * Splices tunnels: each gets one virtual thread per direction, as a TCP connection of {@code
 * TcpProxy} does, through the toxics in {@link #toxics()}. Made by {@link Tunnels#splicer}.
 */
public interface TunnelSplicer extends AutoCloseable {
  /** What happened to a tunnel, told once when it ended. */
  interface Ended {
    /**
     * The tunnel ended: {@code up} bytes went client to backend, {@code down} backend to client,
     * for {@code why} ("closed", "reset", "idle timeout", "toxic ...").
     */
    void ended(long up, long down, String why);
  }

  /**
   * Splices {@code client} and {@code backend} until both ways ended, one end failed, a toxic ended
   * it or the splicer closed; {@code ended} is told once. Returns at once.
   */
  void splice(Pipe client, Pipe backend, Ended ended);

  /** The toxics applied to new tunnels and, as in {@code TcpProxy}, to the open ones. */
  Toxics toxics();

  /** Tunnels spliced so far. */
  long opened();

  /** Tunnels open now. */
  int open();

  /** Bytes client to backend, over every tunnel. */
  long bytesUpstream();

  /** Bytes backend to client, over every tunnel. */
  long bytesDownstream();

  /** Toxics applied to a tunnel (each draw that took effect). */
  long toxicsApplied();

  /** Tunnels ended by a reset or an I/O error. */
  long resets();

  /** Tunnels ended as an end stayed idle. */
  long idleTimeouts();

  /** Ends every open tunnel (reset) and waits for their threads; idempotent. */
  @Override
  void close();
}
