package dev.meshlet.l7;

import java.util.concurrent.ThreadLocalRandom;
import org.jspecify.annotations.Nullable;

/**
 * W3C Trace Context's {@code traceparent}: read (version, trace id, parent id, flags), checked, and
 * made when a proxy starts traces. The proxy reports no spans of its own, so it passes a valid
 * {@code traceparent} on unchanged: a parent id of its own would point at a span nobody recorded.
 */
final class TraceContext {
  static final String TRACEPARENT = "traceparent";
  static final String TRACESTATE = "tracestate";
  private static final char[] HEX = "0123456789abcdef".toCharArray();

  private TraceContext() {}

  /**
   * The trace id of a valid {@code traceparent} value, or null when it is not one: the version
   * {@code 00} form exactly ({@code 00-<32 hex>-<16 hex>-<2 hex>}), a later version's prefix of
   * that form, lower-case hex, neither id all zeros, never version {@code ff}.
   */
  static @Nullable String traceId(String value) {
    int n = value.length();
    if (n < 55 || !hex(value, 0, 2) || value.startsWith("ff")) {
      return null;
    }
    boolean v00 = value.startsWith("00");
    if (v00 ? n != 55 : n > 55 && value.charAt(55) != '-') {
      return null; // a later version may append fields, each after a dash
    }
    if (value.charAt(2) != '-' || value.charAt(35) != '-' || value.charAt(52) != '-') {
      return null;
    }
    if (!hex(value, 3, 35) || !hex(value, 36, 52) || !hex(value, 53, 55)) {
      return null;
    }
    if (zeros(value, 3, 35) || zeros(value, 36, 52)) {
      return null;
    }
    return value.substring(3, 35);
  }

  /** A new sampled {@code traceparent}: random 128-bit trace id and 64-bit parent id. */
  static String newTraceparent() {
    ThreadLocalRandom random = ThreadLocalRandom.current();
    char[] out = new char[55];
    out[0] = '0';
    out[1] = '0';
    out[2] = '-';
    long a = random.nextLong();
    long b = random.nextLong() | 1; // never all zeros
    long c = random.nextLong() | 1;
    for (int i = 0; i < 16; i++) {
      out[3 + i] = HEX[(int) (a >>> (60 - 4 * i)) & 0xF];
      out[19 + i] = HEX[(int) (b >>> (60 - 4 * i)) & 0xF];
      out[36 + i] = HEX[(int) (c >>> (60 - 4 * i)) & 0xF];
    }
    out[35] = '-';
    out[52] = '-';
    out[53] = '0';
    out[54] = '1';
    return new String(out);
  }

  private static boolean hex(String s, int from, int to) {
    for (int i = from; i < to; i++) {
      char c = s.charAt(i);
      if ((c < '0' || c > '9') && (c < 'a' || c > 'f')) {
        return false;
      }
    }
    return true;
  }

  private static boolean zeros(String s, int from, int to) {
    for (int i = from; i < to; i++) {
      if (s.charAt(i) != '0') {
        return false;
      }
    }
    return true;
  }
}
