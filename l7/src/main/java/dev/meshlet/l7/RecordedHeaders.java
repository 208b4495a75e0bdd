package dev.meshlet.l7;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import org.jspecify.annotations.Nullable;

/**
 * Headers as a journal entry keeps them (see {@link HeaderCapture}): in their order, names as sent,
 * redacted values replaced by {@link #REDACTED}. Empty unless the proxy keeps headers.
 *
 * <pre>{@code
 * List<HttpEvent.Forwarded> tries = proxy.journal().entries(HttpEvent.Forwarded.class);
 * assertThat(tries).extracting(t -> t.headers().get("Idempotency-Key")).containsOnly("k-42");
 * }</pre>
 *
 * <p>Made by meshlet for users to read: its canonical constructor is not part of the supported API.
 *
 * @param fields the headers kept, in order
 * @param truncated whether some were dropped because the set passed its byte limit
 */
public record RecordedHeaders(List<Field> fields, boolean truncated) {

  /** The value kept for a redacted header. */
  public static final String REDACTED = "[redacted]";

  private static final RecordedHeaders NONE = new RecordedHeaders(List.of(), false);

  /**
   * One header.
   *
   * @param name its name, as sent
   * @param value its value, or {@link #REDACTED}
   */
  public record Field(String name, String value) {
    /** Checks for nulls. */
    public Field {
      Objects.requireNonNull(name, "name");
      Objects.requireNonNull(value, "value");
    }
  }

  /** Copies the list. */
  public RecordedHeaders {
    fields = List.copyOf(fields);
  }

  /** No headers: what an entry holds when the proxy does not keep them. */
  public static RecordedHeaders none() {
    return NONE;
  }

  /** The first value of header {@code name} (any case), or null when there is none. */
  public @Nullable String get(String name) {
    for (Field f : fields) {
      if (f.name().equalsIgnoreCase(name)) {
        return f.value();
      }
    }
    return null;
  }

  /** Every value of header {@code name} (any case), in order. */
  public List<String> values(String name) {
    List<String> out = new ArrayList<>();
    for (Field f : fields) {
      if (f.name().equalsIgnoreCase(name)) {
        out.add(f.value());
      }
    }
    return out;
  }

  /** Whether no header was kept. */
  public boolean isEmpty() {
    return fields.isEmpty();
  }
}
