package dev.meshlet.l7;

import java.security.cert.CertPathBuilderException;
import java.security.cert.CertPathValidatorException;
import java.security.cert.CertificateException;
import java.security.cert.CertificateExpiredException;
import java.security.cert.CertificateNotYetValidException;
import javax.net.ssl.SSLException;
import org.jspecify.annotations.Nullable;

/**
 * Says in a few words why a TLS handshake with a backend failed, from the JDK's exception chain:
 * the reason a 502, the journal and the log give. Stateless.
 */
final class BackendTls {
  private BackendTls() {}

  /**
   * Why the handshake failed ("certificate expired", "certificate does not name HOST", …), or null
   * when {@code failure} is no TLS failure.
   */
  static @Nullable String reason(Throwable failure, String host) {
    boolean tls = false;
    for (Throwable t = failure; t != null; t = t.getCause()) {
      if (t instanceof SSLException) {
        tls = true;
      }
      if (t instanceof CertificateExpiredException) {
        return "certificate expired";
      }
      if (t instanceof CertificateNotYetValidException) {
        return "certificate not yet valid";
      }
      if (t instanceof CertPathBuilderException) {
        return "certificate not trusted (no path to a trusted CA)";
      }
      if (t instanceof CertPathValidatorException v
          && v.getReason() == CertPathValidatorException.BasicReason.EXPIRED) {
        return "certificate expired";
      }
      String m = t.getMessage();
      if (m != null && m.startsWith("No subject alternative")) {
        return "certificate does not name " + host;
      }
      if (t instanceof CertificateException
          && m != null
          && m.startsWith("certificate names none of the peers expected")) {
        return m; // the check the client's trust manager makes, with the peers it expected
      }
      if (tls && t.getCause() == null) {
        return m == null ? t.getClass().getSimpleName() : m;
      }
    }
    return null;
  }
}
