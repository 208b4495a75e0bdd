package dev.meshlet.examples;

import dev.meshlet.core.ClientTls;
import dev.meshlet.core.ServerTls;
import dev.meshlet.core.TlsIdentity;
import dev.meshlet.core.TlsTrust;
import java.nio.file.Path;
import java.util.Set;
import org.jspecify.annotations.Nullable;

/**
 * The TLS flags of the l4 and l7 modes: termination ({@code --tls-cert}, {@code --tls-key}, {@code
 * --client-ca}, {@code --require-client-cert}) and origination to every backend ({@code
 * --upstream-tls}, {@code --upstream-ca}, {@code --upstream-cert}, {@code --upstream-key}). A file
 * that is missing or does not read fails here, naming the file and the flag (exit 2).
 */
final class TlsFlags {
  static final String USAGE =
      """
                 [--tls-cert FILE --tls-key FILE [--client-ca FILE] [--require-client-cert]]
                 [--upstream-tls [--upstream-ca FILE] [--upstream-cert FILE --upstream-key FILE]]
      """;

  static final String HELP =
      """
        --tls-cert, --tls-key  l4, l7: terminate TLS with this PEM chain and unencrypted PKCS#8 PEM key
        --client-ca          l4, l7: ask clients for certificates issued by these PEM CAs (mutual TLS)
        --require-client-cert  l4, l7: refuse clients without such a certificate (with --client-ca)
        --upstream-tls       l4, l7: TLS to the backends, hostname verified (default trust: the JDK's)
        --upstream-ca        l4, l7: trust these PEM CAs for backends instead of the JDK's
        --upstream-cert, --upstream-key  l4, l7: the client certificate to show backends that ask
      """;

  static final Set<String> FLAGS =
      Set.of(
          "--tls-cert",
          "--tls-key",
          "--client-ca",
          "--upstream-ca",
          "--upstream-cert",
          "--upstream-key");

  static final Set<String> SWITCHES = Set.of("--require-client-cert", "--upstream-tls");

  private TlsFlags() {}

  /** The listener's TLS, or null when none of its flags is given. */
  static @Nullable ServerTls server(Flags f) {
    String cert = f.optional("--tls-cert");
    String key = f.optional("--tls-key");
    String ca = f.optional("--client-ca");
    boolean require = f.flag("--require-client-cert");
    if (cert == null && key == null) {
      if (ca != null || require) {
        throw new UsageException(
            (ca != null ? "--client-ca" : "--require-client-cert")
                + " needs --tls-cert and --tls-key (client certificates come with TLS)");
      }
      return null;
    }
    if (cert == null || key == null) {
      throw new UsageException(
          (cert == null ? "--tls-key" : "--tls-cert")
              + " needs "
              + (cert == null ? "--tls-cert" : "--tls-key"));
    }
    if (require && ca == null) {
      throw new UsageException("--require-client-cert needs --client-ca FILE (whom to trust)");
    }
    ServerTls.Builder b = ServerTls.builder(identity(cert, key, "--tls-cert", "--tls-key"));
    if (ca != null) {
      b.clientAuth(
          require ? ServerTls.ClientAuth.REQUIRE : ServerTls.ClientAuth.REQUEST,
          trust(ca, "--client-ca"));
    }
    return b.build();
  }

  /** TLS to the backends, or null without {@code --upstream-tls}. */
  static @Nullable ClientTls upstream(Flags f) {
    boolean on = f.flag("--upstream-tls");
    String ca = f.optional("--upstream-ca");
    String cert = f.optional("--upstream-cert");
    String key = f.optional("--upstream-key");
    if (!on) {
      String given = ca != null ? "--upstream-ca" : cert != null ? "--upstream-cert" : null;
      given = given == null && key != null ? "--upstream-key" : given;
      if (given != null) {
        throw new UsageException(given + " needs --upstream-tls");
      }
      return null;
    }
    ClientTls.Builder b = ClientTls.builder();
    if (ca != null) {
      b.trust(trust(ca, "--upstream-ca"));
    }
    if (cert != null || key != null) {
      if (cert == null || key == null) {
        throw new UsageException(
            (cert == null ? "--upstream-key" : "--upstream-cert")
                + " needs "
                + (cert == null ? "--upstream-cert" : "--upstream-key"));
      }
      b.identity(identity(cert, key, "--upstream-cert", "--upstream-key"));
    }
    return b.build();
  }

  private static TlsIdentity identity(String cert, String key, String certFlag, String keyFlag) {
    try {
      return TlsIdentity.pem(Path.of(cert), Path.of(key));
    } catch (IllegalArgumentException e) {
      throw new UsageException(certFlag + "/" + keyFlag + ": " + e.getMessage());
    }
  }

  private static TlsTrust trust(String file, String flag) {
    try {
      return TlsTrust.pem(Path.of(file));
    } catch (IllegalArgumentException e) {
      throw new UsageException(flag + ": " + e.getMessage());
    }
  }
}
