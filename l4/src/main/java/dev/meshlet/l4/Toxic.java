package dev.meshlet.l4;

import dev.meshlet.core.Schedule;
import java.time.Duration;
import java.util.Objects;

/**
 * A network fault a {@link TcpProxy} applies to connections: Toxiproxy's toxics, with the same
 * meanings. Install one at runtime with {@link Toxics#add(String, Toxic)}:
 *
 * <pre>{@code
 * proxy.toxics().add("slow-db", Toxic.latency(Duration.ofMillis(100)).downstream());
 * proxy.toxics().add("flaky", Toxic.resetPeer(Duration.ZERO).upstream().toxicity(0.3));
 * }</pre>
 *
 * <p>Every toxic has a {@link Direction} (default {@link Direction#DOWNSTREAM}, backend to client,
 * as in Toxiproxy), a {@linkplain #toxicity() toxicity} (the probability that it applies to a
 * connection; default 1) and a {@link Schedule} (default {@link Schedule#always()}). Whether a
 * toxic applies to a connection is decided once, when the connection is accepted or, for
 * connections already open, when the toxic is added; the draw comes from the proxy's {@linkplain
 * TcpProxy#seed() seeded} random source, so the same seed and the same order of connections give
 * the same decisions.
 *
 * <p>Effects run on the connection's own virtual thread for that direction (a bandwidth limit paces
 * its writes), except latency: delayed chunks are sent by a virtual thread of their own, so reading
 * goes on meanwhile. A proxy without toxics does no extra work.
 */
public sealed interface Toxic {

  /** Which way the bytes a toxic affects flow. */
  enum Direction {
    /** Client to backend (Toxiproxy's {@code upstream}). */
    UPSTREAM,
    /** Backend to client (Toxiproxy's {@code downstream}), the default. */
    DOWNSTREAM
  }

  /** The direction this toxic affects. */
  Direction direction();

  /** The probability, 0 to 1, that this toxic applies to a given connection. */
  double toxicity();

  /** Which connections (counted from when the toxic is added) it may apply to. */
  Schedule schedule();

  /**
   * Adds {@code latency} to every chunk of data, Toxiproxy's {@code latency}; see {@link
   * #latency(Duration, Duration)}.
   */
  static Latency latency(Duration latency) {
    return latency(latency, Duration.ZERO);
  }

  /**
   * Adds {@code latency} ± up to {@code jitter} (uniformly drawn per chunk) to every chunk of data:
   * each chunk is forwarded at the time it was read plus its delay, as in Toxiproxy, while the
   * proxy goes on reading, so a stream is delayed but not slowed. Up to 16 read buffers' worth of
   * bytes ({@link TcpProxyBuilder#bufferSize(int)}, 1 MiB by default) are held per direction; when
   * that many are in flight the proxy stops reading until the oldest is sent, so a stream faster
   * than that amount per latency period is paced by it. Chunks keep their order (jitter never
   * reorders them) and the end of stream follows the last chunk.
   */
  static Latency latency(Duration latency, Duration jitter) {
    return new Latency(latency, jitter, Direction.DOWNSTREAM, 1.0, Schedule.always());
  }

  /**
   * Limits throughput to {@code kibPerSecond} KiB (1024 bytes) per second, Toxiproxy's {@code
   * bandwidth}.
   */
  static Bandwidth bandwidth(long kibPerSecond) {
    return new Bandwidth(kibPerSecond, Direction.DOWNSTREAM, 1.0, Schedule.always());
  }

  /**
   * Delays the close (FIN) by {@code delay} once the sending side has closed, Toxiproxy's {@code
   * slow_close}.
   */
  static SlowClose slowClose(Duration delay) {
    return new SlowClose(delay, Direction.DOWNSTREAM, 1.0, Schedule.always());
  }

  /**
   * Stops all data from getting through (it is read and dropped) and closes the connection after
   * {@code timeout}; {@link Duration#ZERO} never closes it. Toxiproxy's {@code timeout}.
   */
  static Timeout timeout(Duration timeout) {
    return new Timeout(timeout, Direction.DOWNSTREAM, 1.0, Schedule.always());
  }

  /**
   * A black hole: data is dropped and the connection is left open. Same as {@code
   * timeout(Duration.ZERO)}.
   */
  static Timeout blackhole() {
    return timeout(Duration.ZERO);
  }

  /**
   * Resets the connection (TCP RST to both sides) {@code timeout} after the first data arrives in
   * this direction; that data is not forwarded. Toxiproxy's {@code reset_peer}.
   */
  static ResetPeer resetPeer(Duration timeout) {
    return new ResetPeer(timeout, Direction.DOWNSTREAM, 1.0, Schedule.always());
  }

  /**
   * Splits data into segments of {@code averageSize} ± {@code sizeVariation} bytes, with {@code
   * delay} between segments. Toxiproxy's {@code slicer} (whose delay is in microseconds).
   */
  static Slicer slicer(int averageSize, int sizeVariation, Duration delay) {
    return new Slicer(
        averageSize, sizeVariation, delay, Direction.DOWNSTREAM, 1.0, Schedule.always());
  }

  /**
   * Closes the connection once exactly {@code bytes} bytes have passed, Toxiproxy's {@code
   * limit_data}.
   */
  static LimitData limitData(long bytes) {
    return new LimitData(bytes, Direction.DOWNSTREAM, 1.0, Schedule.always());
  }

  /** This toxic, applied to client-to-backend data. */
  default Toxic upstream() {
    return with(Direction.UPSTREAM, toxicity(), schedule());
  }

  /** This toxic, applied to backend-to-client data. */
  default Toxic downstream() {
    return with(Direction.DOWNSTREAM, toxicity(), schedule());
  }

  /** This toxic, applied in {@code direction}. */
  default Toxic direction(Direction direction) {
    return with(Objects.requireNonNull(direction, "direction"), toxicity(), schedule());
  }

  /** This toxic, applied to a connection with probability {@code toxicity} (0 to 1). */
  default Toxic toxicity(double toxicity) {
    return with(direction(), toxicity, schedule());
  }

  /** This toxic, applied only to the connections {@code schedule} admits. */
  default Toxic schedule(Schedule schedule) {
    return with(direction(), toxicity(), Objects.requireNonNull(schedule, "schedule"));
  }

  private Toxic with(Direction d, double t, Schedule s) {
    return switch (this) {
      case Latency x -> new Latency(x.latency, x.jitter, d, t, s);
      case Bandwidth x -> new Bandwidth(x.kibPerSecond, d, t, s);
      case SlowClose x -> new SlowClose(x.delay, d, t, s);
      case Timeout x -> new Timeout(x.timeout, d, t, s);
      case ResetPeer x -> new ResetPeer(x.timeout, d, t, s);
      case Slicer x -> new Slicer(x.averageSize, x.sizeVariation, x.delay, d, t, s);
      case LimitData x -> new LimitData(x.bytes, d, t, s);
    };
  }

  /**
   * Delay with jitter. See {@link Toxic#latency(Duration, Duration)}.
   *
   * @param latency the added delay, at least 0
   * @param jitter up to this much more or less, at least 0
   * @param direction which way
   * @param toxicity probability per connection, 0 to 1
   * @param schedule which connections
   */
  record Latency(
      Duration latency, Duration jitter, Direction direction, double toxicity, Schedule schedule)
      implements Toxic {
    /** Validates the parameters. */
    public Latency {
      Checks.notNegative("latency", latency);
      Checks.notNegative("jitter", jitter);
      Checks.common(direction, toxicity, schedule);
    }
  }

  /**
   * A bandwidth limit. See {@link Toxic#bandwidth(long)}.
   *
   * @param kibPerSecond the rate in KiB/s, at least 1
   * @param direction which way
   * @param toxicity probability per connection, 0 to 1
   * @param schedule which connections
   */
  record Bandwidth(long kibPerSecond, Direction direction, double toxicity, Schedule schedule)
      implements Toxic {
    /** Validates the parameters. */
    public Bandwidth {
      if (kibPerSecond < 1) {
        throw new IllegalArgumentException(
            "bandwidth: " + kibPerSecond + " KiB/s (expected: >= 1)");
      }
      Checks.common(direction, toxicity, schedule);
    }
  }

  /**
   * A delayed close. See {@link Toxic#slowClose(Duration)}.
   *
   * @param delay how long the close is held, at least 0
   * @param direction which way
   * @param toxicity probability per connection, 0 to 1
   * @param schedule which connections
   */
  record SlowClose(Duration delay, Direction direction, double toxicity, Schedule schedule)
      implements Toxic {
    /** Validates the parameters. */
    public SlowClose {
      Checks.notNegative("slowClose delay", delay);
      Checks.common(direction, toxicity, schedule);
    }
  }

  /**
   * Data dropped, connection closed after a time. See {@link Toxic#timeout(Duration)}.
   *
   * @param timeout when to close, counted from when the toxic applies; 0 = never
   * @param direction which way
   * @param toxicity probability per connection, 0 to 1
   * @param schedule which connections
   */
  record Timeout(Duration timeout, Direction direction, double toxicity, Schedule schedule)
      implements Toxic {
    /** Validates the parameters. */
    public Timeout {
      Checks.notNegative("timeout", timeout);
      Checks.common(direction, toxicity, schedule);
    }
  }

  /**
   * A TCP reset. See {@link Toxic#resetPeer(Duration)}.
   *
   * @param timeout how long after the first data the reset comes, at least 0
   * @param direction which way
   * @param toxicity probability per connection, 0 to 1
   * @param schedule which connections
   */
  record ResetPeer(Duration timeout, Direction direction, double toxicity, Schedule schedule)
      implements Toxic {
    /** Validates the parameters. */
    public ResetPeer {
      Checks.notNegative("resetPeer timeout", timeout);
      Checks.common(direction, toxicity, schedule);
    }
  }

  /**
   * Data cut into small delayed segments. See {@link Toxic#slicer(int, int, Duration)}.
   *
   * @param averageSize the average segment size in bytes, at least 1
   * @param sizeVariation how much a segment may differ from the average, 0 to {@code averageSize -
   *     1}
   * @param delay the pause between segments, at least 0
   * @param direction which way
   * @param toxicity probability per connection, 0 to 1
   * @param schedule which connections
   */
  record Slicer(
      int averageSize,
      int sizeVariation,
      Duration delay,
      Direction direction,
      double toxicity,
      Schedule schedule)
      implements Toxic {
    /** Validates the parameters. */
    public Slicer {
      if (averageSize < 1) {
        throw new IllegalArgumentException(
            "slicer averageSize: " + averageSize + " (expected: >= 1)");
      }
      if (sizeVariation < 0 || sizeVariation >= averageSize) {
        throw new IllegalArgumentException(
            "slicer sizeVariation: "
                + sizeVariation
                + " (expected: 0 to averageSize - 1 = "
                + (averageSize - 1)
                + ")");
      }
      Checks.notNegative("slicer delay", delay);
      Checks.common(direction, toxicity, schedule);
    }
  }

  /**
   * A byte limit. See {@link Toxic#limitData(long)}.
   *
   * @param bytes how many bytes pass before the connection is closed, at least 0
   * @param direction which way
   * @param toxicity probability per connection, 0 to 1
   * @param schedule which connections
   */
  record LimitData(long bytes, Direction direction, double toxicity, Schedule schedule)
      implements Toxic {
    /** Validates the parameters. */
    public LimitData {
      if (bytes < 0) {
        throw new IllegalArgumentException("limitData: " + bytes + " bytes (expected: >= 0)");
      }
      Checks.common(direction, toxicity, schedule);
    }
  }
}

/** Argument checks shared by the toxic records. */
final class Checks {
  private Checks() {}

  static void notNegative(String what, Duration d) {
    Objects.requireNonNull(d, what);
    if (d.isNegative()) {
      throw new IllegalArgumentException(what + ": " + d + " (expected: >= 0)");
    }
  }

  static void common(Toxic.Direction direction, double toxicity, Schedule schedule) {
    Objects.requireNonNull(direction, "direction");
    Objects.requireNonNull(schedule, "schedule");
    if (!(toxicity >= 0 && toxicity <= 1)) {
      throw new IllegalArgumentException("toxicity: " + toxicity + " (expected: 0 to 1)");
    }
  }
}
