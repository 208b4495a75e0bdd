package dev.meshlet.l7;

import java.util.Arrays;
import java.util.LinkedHashSet;
import java.util.Locale;
import java.util.Objects;
import java.util.Set;

/**
 * Which headers an {@link HttpProxy}'s journal keeps, once {@link
 * HttpProxyBuilder#journalHeaders(HeaderCapture)} turns keeping them on: every header, each
 * redacted one with its value replaced by {@link RecordedHeaders#REDACTED}, up to {@code maxBytes}
 * of names and values per header set (the rest is dropped, and the set says it was {@linkplain
 * RecordedHeaders#truncated() truncated}).
 *
 * <pre>{@code
 * HttpProxy.builder()
 *     .journalHeaders(HeaderCapture.defaults().alsoRedacting("X-Api-Key"))
 * }</pre>
 *
 * <p>A journal of {@code n} entries then holds at most {@code 2 × n × maxBytes} bytes of headers (a
 * completed request keeps its request and its response headers, a forwarded try its request's).
 *
 * @param maxBytes the most bytes of header names and values kept per header set; default 4096
 * @param redacted the names (any case) whose values are never kept; default {@link
 *     #DEFAULT_REDACTED}
 */
public record HeaderCapture(int maxBytes, Set<String> redacted) {

  /**
   * The headers redacted unless told otherwise: {@code Authorization}, {@code Proxy-Authorization},
   * {@code Cookie} and {@code Set-Cookie}.
   */
  public static final Set<String> DEFAULT_REDACTED =
      Set.of("authorization", "proxy-authorization", "cookie", "set-cookie");

  /**
   * Checks the limit and keeps the names lower-cased.
   *
   * @throws IllegalArgumentException when {@code maxBytes} is negative or a name is blank
   */
  public HeaderCapture {
    if (maxBytes < 0) {
      throw new IllegalArgumentException("maxBytes: " + maxBytes + " (expected: >= 0)");
    }
    Set<String> names = new LinkedHashSet<>();
    for (String name : Objects.requireNonNull(redacted, "redacted")) {
      if (Objects.requireNonNull(name, "redacted name").isBlank()) {
        throw new IllegalArgumentException("redacted: a blank header name");
      }
      names.add(name.strip().toLowerCase(Locale.ROOT));
    }
    redacted = Set.copyOf(names);
  }

  /** 4096 bytes per header set, {@link #DEFAULT_REDACTED} redacted. */
  public static HeaderCapture defaults() {
    return new HeaderCapture(4096, DEFAULT_REDACTED);
  }

  /** This capture keeping up to {@code bytes} per header set. */
  public HeaderCapture withMaxBytes(int bytes) {
    return new HeaderCapture(bytes, redacted);
  }

  /** This capture redacting exactly {@code names}, instead of its list (none for no names). */
  public HeaderCapture redacting(String... names) {
    return new HeaderCapture(maxBytes, Set.copyOf(Arrays.asList(names)));
  }

  /** This capture redacting {@code names} as well as its list. */
  public HeaderCapture alsoRedacting(String... names) {
    Set<String> all = new LinkedHashSet<>(redacted);
    all.addAll(Arrays.asList(names));
    return new HeaderCapture(maxBytes, all);
  }

  /** Whether {@code name} (any case) is redacted. */
  public boolean redacts(String name) {
    return redacted.contains(name.toLowerCase(Locale.ROOT));
  }
}
