package dev.meshlet.core.internal;

import java.net.BindException;
import java.util.Locale;

/** How both proxies say that their listen address could not be bound. */
public final class Bind {
  private Bind() {}

  /**
   * {@code failure} named after the address the user asked for: {@code "listen 127.0.0.1:8080:
   * address already in use"}, or {@code "listen HOST:PORT: cannot bind (REASON)"}, with {@code
   * failure} as its cause.
   */
  public static BindException failed(String host, int port, BindException failure) {
    String why = String.valueOf(failure.getMessage());
    String what =
        why.toLowerCase(Locale.ROOT).contains("in use")
            ? "address already in use"
            : "cannot bind (" + why + ")";
    BindException named = new BindException("listen " + host + ":" + port + ": " + what);
    named.initCause(failure);
    return named;
  }
}
