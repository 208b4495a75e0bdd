package dev.meshlet.admin;

import dev.meshlet.l4.Toxic;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import org.jspecify.annotations.Nullable;

/**
 * meshlet's {@link Toxic}s in Toxiproxy's JSON shape and units: latency, jitter, slow_close delay,
 * timeout and reset_peer timeout in ms, bandwidth rate in KB/s (1000 bytes), slicer delay in µs,
 * limit_data in bytes.
 */
final class ToxicCodec {
  static final String TYPES =
      "latency, bandwidth, slow_close, timeout, reset_peer, slicer, limit_data";

  private ToxicCodec() {}

  /** Toxiproxy's name of a toxic's type. */
  static String type(Toxic t) {
    return switch (t) {
      case Toxic.Latency x -> "latency";
      case Toxic.Bandwidth x -> "bandwidth";
      case Toxic.SlowClose x -> "slow_close";
      case Toxic.Timeout x -> "timeout";
      case Toxic.ResetPeer x -> "reset_peer";
      case Toxic.Slicer x -> "slicer";
      case Toxic.LimitData x -> "limit_data";
    };
  }

  /** The toxic as Toxiproxy shows it: name, type, stream, toxicity, attributes. */
  static Map<String, Object> toJson(String name, Toxic t) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("name", name);
    m.put("type", type(t));
    m.put("stream", t.direction().name().toLowerCase(Locale.ROOT));
    m.put("toxicity", t.toxicity());
    m.put("attributes", attributes(t));
    return m;
  }

  static Map<String, Object> attributes(Toxic t) {
    Map<String, Object> a = new LinkedHashMap<>();
    switch (t) {
      case Toxic.Latency x -> {
        a.put("latency", x.latency().toMillis());
        a.put("jitter", x.jitter().toMillis());
      }
      // meshlet counts KiB (1024 bytes), Toxiproxy KB (1000 bytes)
      case Toxic.Bandwidth x -> a.put("rate", Math.round(x.kibPerSecond() * 1024 / 1000.0));
      case Toxic.SlowClose x -> a.put("delay", x.delay().toMillis());
      case Toxic.Timeout x -> a.put("timeout", x.timeout().toMillis());
      case Toxic.ResetPeer x -> a.put("timeout", x.timeout().toMillis());
      case Toxic.Slicer x -> {
        a.put("average_size", (long) x.averageSize());
        a.put("size_variation", (long) x.sizeVariation());
        a.put("delay", x.delay().toNanos() / 1000);
      }
      case Toxic.LimitData x -> a.put("bytes", x.bytes());
    }
    return a;
  }

  /**
   * The toxic that {@code type}, {@code stream}, {@code toxicity} and {@code attributes} describe;
   * missing attributes are 0, as in Toxiproxy.
   *
   * @throws IllegalArgumentException naming the field to fix
   */
  static Toxic fromJson(
      @Nullable Object type,
      @Nullable Object stream,
      @Nullable Object toxicity,
      Map<?, ?> attributes) {
    if (!(type instanceof String ts)) {
      throw new IllegalArgumentException(
          "invalid toxic type: " + type + " (expected one of: " + TYPES + ")");
    }
    Toxic t =
        switch (ts) {
          case "latency" ->
              Toxic.latency(millis(attributes, "latency"), millis(attributes, "jitter"));
          case "bandwidth" -> Toxic.bandwidth(kib(number(attributes, "rate")));
          case "slow_close" -> Toxic.slowClose(millis(attributes, "delay"));
          case "timeout" -> Toxic.timeout(millis(attributes, "timeout"));
          case "reset_peer" -> Toxic.resetPeer(millis(attributes, "timeout"));
          case "slicer" ->
              Toxic.slicer(
                  intNumber(attributes, "average_size"),
                  intNumber(attributes, "size_variation"),
                  Duration.ofNanos(Math.multiplyExact(number(attributes, "delay"), 1000L)));
          case "limit_data" -> Toxic.limitData(number(attributes, "bytes"));
          default ->
              throw new IllegalArgumentException(
                  "invalid toxic type: " + ts + " (expected one of: " + TYPES + ")");
        };
    t = t.direction(direction(stream));
    if (toxicity != null) {
      if (!(toxicity instanceof Number n)) {
        throw new IllegalArgumentException(
            "toxicity: " + toxicity + " (expected: a number from 0 to 1)");
      }
      t = t.toxicity(n.doubleValue());
    }
    return t;
  }

  static Toxic.Direction direction(@Nullable Object stream) {
    if (stream == null || "downstream".equals(stream)) {
      return Toxic.Direction.DOWNSTREAM;
    }
    if ("upstream".equals(stream)) {
      return Toxic.Direction.UPSTREAM;
    }
    throw new IllegalArgumentException(
        "stream was invalid, can be either upstream or downstream (got: " + stream + ")");
  }

  private static long kib(long rate) {
    if (rate < 1) {
      throw new IllegalArgumentException(
          "bandwidth rate: "
              + rate
              + " KB/s (expected: >= 1; to lift the limit, remove the toxic)");
    }
    return Math.max(1, Math.round(rate * 1000 / 1024.0));
  }

  private static Duration millis(Map<?, ?> attributes, String name) {
    long ms = number(attributes, name);
    if (ms < 0) {
      throw new IllegalArgumentException(name + ": " + ms + " ms (expected: >= 0)");
    }
    return Duration.ofMillis(ms);
  }

  private static int intNumber(Map<?, ?> attributes, String name) {
    long n = number(attributes, name);
    if (n < Integer.MIN_VALUE || n > Integer.MAX_VALUE) {
      throw new IllegalArgumentException(name + ": " + n + " (expected: a 32-bit integer)");
    }
    return (int) n;
  }

  private static long number(Map<?, ?> attributes, String name) {
    Object v = attributes.get(name);
    if (v == null) {
      return 0;
    }
    if (v instanceof Number n) {
      double d = n.doubleValue();
      if (d != Math.rint(d)) {
        throw new IllegalArgumentException(
            "attribute " + name + ": " + v + " (expected: a whole number)");
      }
      return n.longValue();
    }
    throw new IllegalArgumentException("attribute " + name + ": " + v + " (expected: a number)");
  }
}
