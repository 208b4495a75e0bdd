package dev.meshlet.l4;

import dev.meshlet.core.internal.LatencyRecorder;
import java.util.concurrent.atomic.LongAdder;

/**
 * The proxy's running counts, written by the acceptor and the connections' threads, read by {@link
 * TcpProxy#stats()}.
 */
final class Counters {
  final LongAdder accepted = new LongAdder();
  final LongAdder rejected = new LongAdder();
  final LongAdder connectFailures = new LongAdder();
  final LongAdder noBackend = new LongAdder();
  final LongAdder overflows = new LongAdder();
  final LongAdder idleTimeouts = new LongAdder();
  final LongAdder resets = new LongAdder();
  final LongAdder bytesUpstream = new LongAdder();
  final LongAdder bytesDownstream = new LongAdder();
  final LongAdder acceptFailures = new LongAdder();
  final LongAdder noSocket = new LongAdder();
  final LongAdder unresolved = new LongAdder();
  final LongAdder toxicsApplied = new LongAdder();
  final LatencyRecorder connectTime = new LatencyRecorder();
  final LatencyRecorder duration = new LatencyRecorder();
  final LongAdder proxyHeaderRejected = new LongAdder();
  final LongAdder helloRouted = new LongAdder();
  final LongAdder helloDefaulted = new LongAdder();
  final LongAdder helloNotTls = new LongAdder();
  final LongAdder helloNoServerName = new LongAdder();
  final LongAdder helloInvalid = new LongAdder();
  final LongAdder helloTooLarge = new LongAdder();
  final LongAdder helloTimeouts = new LongAdder();
  final LongAdder tlsFailures = new LongAdder();
  final LongAdder backendTlsFailures = new LongAdder();

  /** Counts a connection that ended for {@code cause}, once per connection. */
  void ended(Cause cause) {
    // if-else, not a switch: a switch on an enum compiles to a class of its own, loaded at its
    // first
    // use, which may come when no file descriptor is left to load it with
    if (cause == Cause.RESET) {
      resets.increment();
    } else if (cause == Cause.IDLE_TIMEOUT) {
      idleTimeouts.increment();
    } else if (cause == Cause.NO_BACKEND) {
      noBackend.increment();
    } else if (cause == Cause.OVERFLOW) {
      overflows.increment();
    } else if (cause == Cause.NO_SOCKET) {
      noSocket.increment();
    }
  }
}
