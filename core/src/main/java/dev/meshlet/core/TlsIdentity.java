package dev.meshlet.core;

import dev.meshlet.core.internal.TlsContexts;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.Key;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.cert.Certificate;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Objects;
import org.jspecify.annotations.Nullable;

/**
 * A certificate chain and its private key: what a TLS server shows its clients, or a client shows a
 * server asking for a client certificate.
 *
 * <pre>{@code
 * TlsIdentity web = TlsIdentity.pem(Path.of("web.crt"), Path.of("web.key"));
 * }</pre>
 *
 * <p>Every factory checks that the key is the private half of the leaf certificate's public key.
 * The key is never printed: {@link #toString()} shows the leaf's subject and names only. An
 * identity read from files can be {@linkplain #reload() read again}, for certificate rotation.
 */
public final class TlsIdentity {
  private final PrivateKey key;
  private final List<X509Certificate> chain;
  private final List<Path> files;
  private final char @Nullable [] password;

  private TlsIdentity(
      PrivateKey key, List<X509Certificate> chain, List<Path> files, char @Nullable [] password) {
    this.key = key;
    this.chain = chain;
    this.files = files;
    this.password = password;
  }

  /**
   * Reads a PEM certificate chain (leaf first, then intermediates) and an unencrypted PKCS#8 PEM
   * private key ({@code -----BEGIN PRIVATE KEY-----}; RSA, EC, Ed25519 or Ed448).
   *
   * @throws IllegalArgumentException naming the file when one is missing, unreadable or malformed,
   *     or when the key does not match the leaf certificate
   */
  public static TlsIdentity pem(Path chainFile, Path keyFile) {
    Objects.requireNonNull(chainFile, "chainFile");
    Objects.requireNonNull(keyFile, "keyFile");
    List<X509Certificate> chain = TlsContexts.readCertificates("tls certificate", chainFile);
    PrivateKey key = TlsContexts.readPrivateKey("tls key", keyFile);
    if (!TlsContexts.matches(key, chain.get(0))) {
      throw new IllegalArgumentException(
          "tls key "
              + keyFile
              + ": does not match the certificate in "
              + chainFile
              + " ("
              + describe(chain.get(0))
              + ")");
    }
    return new TlsIdentity(key, chain, List.of(chainFile, keyFile), null);
  }

  /**
   * Reads the one private-key entry of a PKCS#12 or JKS keystore (told apart by content); the
   * password opens both the store and the key, and a copy of it is kept for {@link #reload()}.
   *
   * @throws IllegalArgumentException naming the file when it is missing, unreadable, has a wrong
   *     password, or holds no or several private keys
   */
  public static TlsIdentity keyStore(Path file, char[] password) {
    Objects.requireNonNull(file, "file");
    Objects.requireNonNull(password, "password");
    KeyStore ks = TlsContexts.readKeyStore("tls keystore", file, password);
    try {
      List<String> keyAliases = new ArrayList<>();
      for (String alias : Collections.list(ks.aliases())) {
        if (ks.isKeyEntry(alias)) {
          keyAliases.add(alias);
        }
      }
      if (keyAliases.size() != 1) {
        throw new IllegalArgumentException(
            "tls keystore "
                + file
                + ": "
                + keyAliases.size()
                + " private keys "
                + keyAliases
                + " (expected: exactly one)");
      }
      String alias = keyAliases.get(0);
      Key key = ks.getKey(alias, password);
      Certificate[] certs = ks.getCertificateChain(alias);
      if (!(key instanceof PrivateKey pk) || certs == null || certs.length == 0) {
        throw new IllegalArgumentException(
            "tls keystore " + file + ": entry " + alias + " has no private key and chain");
      }
      List<X509Certificate> chain = new ArrayList<>();
      for (Certificate c : certs) {
        chain.add((X509Certificate) c);
      }
      if (!TlsContexts.matches(pk, chain.get(0))) {
        throw new IllegalArgumentException(
            "tls keystore " + file + ": the key of " + alias + " does not match its certificate");
      }
      return new TlsIdentity(pk, List.copyOf(chain), List.of(file), password.clone());
    } catch (GeneralSecurityException e) {
      throw new IllegalArgumentException(
          "tls keystore " + file + ": cannot read the key entry (" + e.getMessage() + ")", null);
    }
  }

  /**
   * An identity from a key and its chain held in memory (leaf first).
   *
   * @throws IllegalArgumentException if the chain is empty or the key does not match the leaf
   */
  public static TlsIdentity of(PrivateKey key, List<X509Certificate> chain) {
    Objects.requireNonNull(key, "key");
    List<X509Certificate> copy = List.copyOf(chain);
    if (copy.isEmpty()) {
      throw new IllegalArgumentException("tls identity: empty certificate chain");
    }
    if (!TlsContexts.matches(key, copy.get(0))) {
      throw new IllegalArgumentException(
          "tls identity: the key does not match the certificate (" + describe(copy.get(0)) + ")");
    }
    return new TlsIdentity(key, copy, List.of(), null);
  }

  /** The leaf certificate: the one whose key this identity holds. */
  public X509Certificate leaf() {
    return chain.get(0);
  }

  /** The certificate chain, leaf first. */
  public List<X509Certificate> chain() {
    return chain;
  }

  /** The private key. Handle with care: meshlet never logs or prints it. */
  public PrivateKey privateKey() {
    return key;
  }

  /** The files this identity was read from (empty when built {@linkplain #of in memory}). */
  public List<Path> files() {
    return files;
  }

  /**
   * This identity read again from its files, for certificate rotation; itself when it was built in
   * memory.
   *
   * @throws IllegalArgumentException as the factory that read the files first
   */
  public TlsIdentity reload() {
    if (files.isEmpty()) {
      return this;
    }
    char[] pw = password;
    return pw == null ? pem(files.get(0), files.get(1)) : keyStore(files.get(0), pw);
  }

  /**
   * The leaf's subject and DNS/URI/IP names, e.g. {@code CN=web [DNS:web.local, URI:spiffe://...]}.
   */
  static String describe(X509Certificate leaf) {
    PeerIdentity p = PeerIdentity.from(leaf);
    List<String> names = new ArrayList<>();
    p.dnsNames().forEach(n -> names.add("DNS:" + n));
    p.uris().forEach(n -> names.add("URI:" + n));
    p.ipAddresses().forEach(n -> names.add("IP:" + n));
    return p.subject() + " " + names;
  }

  /** Equal when the key and chain are. */
  @Override
  public boolean equals(@Nullable Object o) {
    return o instanceof TlsIdentity t && t.key.equals(key) && t.chain.equals(chain);
  }

  @Override
  public int hashCode() {
    return chain.hashCode();
  }

  /** The leaf's subject, names and expiry; never the key. */
  @Override
  public String toString() {
    return "TlsIdentity["
        + describe(leaf())
        + " until "
        + leaf().getNotAfter().toInstant()
        + (files.isEmpty() ? "" : " from " + Arrays.toString(files.toArray()))
        + "]";
  }
}
