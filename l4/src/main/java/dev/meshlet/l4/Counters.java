package dev.meshlet.l4;

import java.util.concurrent.atomic.LongAdder;

/**
 * The proxy's running counts, written by the acceptor and the connections' threads, read by
 * {@link TcpProxy#stats()}.
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

  /** Counts a connection that ended for {@code cause}, once per connection. */
  void ended(Cause cause) {
    switch (cause) {
      case RESET -> resets.increment();
      case IDLE_TIMEOUT -> idleTimeouts.increment();
      case NO_BACKEND -> noBackend.increment();
      case OVERFLOW -> overflows.increment();
      default -> {
        // not counted on its own
      }
    }
  }
}
