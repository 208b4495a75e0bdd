package dev.meshlet.core;

import dev.meshlet.core.internal.TlsContexts;
import java.nio.file.Path;
import java.security.KeyStore;
import java.security.KeyStoreException;
import java.security.cert.Certificate;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Objects;
import org.jspecify.annotations.Nullable;

/**
 * The certificate authorities a TLS peer's certificate must chain to: the JDK's default trust
 * ({@link #system()}) or a set of CA certificates.
 *
 * <pre>{@code
 * TlsTrust mesh = TlsTrust.pem(Path.of("mesh-ca.pem"));
 * }</pre>
 */
public final class TlsTrust {
  private static final TlsTrust SYSTEM = new TlsTrust(true, List.of(), null, null);

  private final boolean system;
  private final List<X509Certificate> certificates;
  private final @Nullable Path file;
  private final char @Nullable [] password;

  private TlsTrust(
      boolean system,
      List<X509Certificate> certificates,
      @Nullable Path file,
      char @Nullable [] password) {
    this.system = system;
    this.certificates = certificates;
    this.file = file;
    this.password = password;
  }

  /**
   * The JDK's default trust: its {@code cacerts}, or what {@code javax.net.ssl.trustStore} names.
   */
  public static TlsTrust system() {
    return SYSTEM;
  }

  /**
   * The CA certificates in a PEM bundle.
   *
   * @throws IllegalArgumentException naming the file when it is missing, unreadable, malformed or
   *     holds no certificate
   */
  public static TlsTrust pem(Path caBundle) {
    Objects.requireNonNull(caBundle, "caBundle");
    return new TlsTrust(false, TlsContexts.readCertificates("tls trust", caBundle), caBundle, null);
  }

  /**
   * The given CA certificates.
   *
   * @throws IllegalArgumentException when there is none
   */
  public static TlsTrust of(X509Certificate... certificates) {
    return of(Arrays.asList(certificates));
  }

  /**
   * The given CA certificates.
   *
   * @throws IllegalArgumentException when there is none
   */
  public static TlsTrust of(List<X509Certificate> certificates) {
    List<X509Certificate> copy = List.copyOf(certificates);
    if (copy.isEmpty()) {
      throw new IllegalArgumentException("tls trust: no certificate (expected: at least one CA)");
    }
    return new TlsTrust(false, copy, null, null);
  }

  /**
   * The trusted certificates of a PKCS#12 or JKS keystore (every certificate entry).
   *
   * @throws IllegalArgumentException naming the file when it is missing, unreadable, has a wrong
   *     password or holds no certificate
   */
  public static TlsTrust keyStore(Path file, char[] password) {
    Objects.requireNonNull(file, "file");
    KeyStore ks = TlsContexts.readKeyStore("tls trust", file, password);
    List<X509Certificate> certs = new ArrayList<>();
    try {
      for (String alias : Collections.list(ks.aliases())) {
        Certificate c = ks.isCertificateEntry(alias) ? ks.getCertificate(alias) : null;
        if (c instanceof X509Certificate x) {
          certs.add(x);
        }
      }
    } catch (KeyStoreException e) {
      throw new IllegalArgumentException("tls trust " + file + ": " + e.getMessage(), e);
    }
    if (certs.isEmpty()) {
      throw new IllegalArgumentException(
          "tls trust " + file + ": no trusted certificate entry (expected: at least one CA)");
    }
    return new TlsTrust(false, List.copyOf(certs), file, password.clone());
  }

  /** Whether this is the JDK's default trust. */
  public boolean isSystem() {
    return system;
  }

  /** The trusted CA certificates; empty for {@link #system()}. */
  public List<X509Certificate> certificates() {
    return certificates;
  }

  /** The file this trust was read from, if any. */
  public @Nullable Path file() {
    return file;
  }

  /** This trust read again from its file, for CA rotation; itself when it was not read from one. */
  public TlsTrust reload() {
    Path f = file;
    if (f == null) {
      return this;
    }
    char[] pw = password;
    return pw == null ? pem(f) : keyStore(f, pw);
  }

  /** Equal when both are the system trust or hold the same certificates. */
  @Override
  public boolean equals(@Nullable Object o) {
    return o instanceof TlsTrust t && t.system == system && t.certificates.equals(certificates);
  }

  @Override
  public int hashCode() {
    return certificates.hashCode() + (system ? 1 : 0);
  }

  @Override
  public String toString() {
    if (system) {
      return "TlsTrust[system]";
    }
    List<String> subjects = new ArrayList<>();
    for (X509Certificate c : certificates) {
      subjects.add(c.getSubjectX500Principal().getName());
    }
    return "TlsTrust" + subjects + (file == null ? "" : " from " + file);
  }
}
