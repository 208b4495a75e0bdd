package dev.meshlet.xds;

import java.time.Duration;

/** protobuf's Duration to java.time's. */
final class Durations {
  private Durations() {}

  static Duration of(com.google.protobuf.Duration d) {
    return Duration.ofSeconds(d.getSeconds(), d.getNanos());
  }
}
