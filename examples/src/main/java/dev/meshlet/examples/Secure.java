package dev.meshlet.examples;

import dev.meshlet.core.ClientTls;
import dev.meshlet.core.ServerTls;
import dev.meshlet.core.TlsIdentity;
import dev.meshlet.core.TlsTrust;
import dev.meshlet.l4.ProxyProtocol;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.function.Consumer;
import org.jspecify.annotations.Nullable;

/** The flags of TLS and of the PROXY protocol, read into core's and l4's values. */
final class Secure {
  private Secure() {}

  /** {@code --tls-cert FILE --tls-key FILE}: TLS termination; null if neither is given. */
  static @Nullable ServerTls server(Flags f) {
    String cert = f.optional("--tls-cert");
    String key = f.optional("--tls-key");
    if (cert == null && key == null) {
      return null;
    }
    if (cert == null || key == null) {
      throw new UsageException(
          (cert == null ? "--tls-key" : "--tls-cert")
              + " needs "
              + (cert == null ? "--tls-cert" : "--tls-key")
              + " too (a PEM certificate chain and its PKCS#8 PEM key)");
    }
    try {
      return ServerTls.of(TlsIdentity.pem(Path.of(cert), Path.of(key)));
    } catch (IllegalArgumentException e) {
      throw new UsageException("--tls-cert/--tls-key: " + e.getMessage());
    }
  }

  /** {@code --upstream-tls [--upstream-ca FILE]}: TLS to the backends; null without it. */
  static @Nullable ClientTls upstream(Flags f) {
    boolean on = f.flag("--upstream-tls");
    String ca = f.optional("--upstream-ca");
    if (!on) {
      if (ca != null) {
        throw new UsageException("--upstream-ca applies to --upstream-tls: give both");
      }
      return null;
    }
    if (ca == null) {
      return ClientTls.system();
    }
    try {
      return ClientTls.builder().trust(TlsTrust.pem(Path.of(ca))).build();
    } catch (IllegalArgumentException e) {
      throw new UsageException("--upstream-ca: " + e.getMessage());
    }
  }

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
