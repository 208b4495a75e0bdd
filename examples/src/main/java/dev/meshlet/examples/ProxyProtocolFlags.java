package dev.meshlet.examples;

import dev.meshlet.l4.ProxyProtocol;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.function.Consumer;
import org.jspecify.annotations.Nullable;

/** The PROXY protocol flags of the l4 and l7 modes, read into l4's {@link ProxyProtocol}. */
final class ProxyProtocolFlags {
  private ProxyProtocolFlags() {}

  /**
   * {@code --proxy-protocol-in} and {@code --proxy-protocol-from CIDR} (repeatable, implies the
   * first): the trusted fronts to pass to {@code in}, if a PROXY header is required.
   */
  static void proxyProtocolIn(Flags f, Consumer<String[]> in) {
    List<String> fronts = f.all("--proxy-protocol-from");
    if (!f.flag("--proxy-protocol-in") && fronts.isEmpty()) {
      return;
    }
    try {
      in.accept(fronts.toArray(new String[0]));
    } catch (IllegalArgumentException e) {
      String why = Objects.requireNonNullElse(e.getMessage(), "not an address or block");
      throw new UsageException(
          "--proxy-protocol-from: " + why.replaceFirst("^proxyProtocolIn: ", ""));
    }
  }

  /** {@code --proxy-protocol-out v1|v2}, or null. */
  static @Nullable ProxyProtocol proxyProtocolOut(Flags f) {
    String v = f.optional("--proxy-protocol-out");
    if (v == null) {
      return null;
    }
    return switch (v.toLowerCase(Locale.ROOT)) {
      case "v1", "1" -> ProxyProtocol.V1;
      case "v2", "2" -> ProxyProtocol.V2;
      default -> throw new UsageException("--proxy-protocol-out '" + v + "' (expected: v1, v2)");
    };
  }
}
