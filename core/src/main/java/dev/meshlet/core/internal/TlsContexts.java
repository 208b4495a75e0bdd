package dev.meshlet.core.internal;

import dev.meshlet.core.ClientTls;
import dev.meshlet.core.ServerTls;
import dev.meshlet.core.TlsIdentity;
import dev.meshlet.core.TlsTrust;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.KeyStore;
import java.security.Principal;
import java.security.PrivateKey;
import java.security.SecureRandom;
import java.security.Signature;
import java.security.cert.Certificate;
import java.security.cert.CertificateException;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.security.spec.PKCS8EncodedKeySpec;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import javax.net.ssl.ExtendedSSLSession;
import javax.net.ssl.KeyManager;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SNIHostName;
import javax.net.ssl.SNIServerName;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLSession;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.TrustManager;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509ExtendedKeyManager;
import javax.net.ssl.X509ExtendedTrustManager;
import org.jspecify.annotations.Nullable;

/**
 * The JDK's TLS machinery for meshlet's TLS values: PEM and keystore reading, key managers, trust
 * managers and {@link SSLContext}s. Every error names the file it comes from and never the key.
 */
public final class TlsContexts {
  private static final String[] KEY_ALGORITHMS = {"RSA", "EC", "Ed25519", "Ed448", "RSASSA-PSS"};
  private static final char[] NO_PASSWORD = new char[0];

  private TlsContexts() {}

  // --- reading ---

  /**
   * The certificates in a PEM file, in file order.
   *
   * @throws IllegalArgumentException naming {@code what} and the file when it is missing,
   *     unreadable, malformed or holds no certificate
   */
  public static List<X509Certificate> readCertificates(String what, Path file) {
    byte[] bytes = read(what, file);
    List<X509Certificate> certs = new ArrayList<>();
    if (!new String(bytes, StandardCharsets.US_ASCII).contains("-----BEGIN CERTIFICATE-----")) {
      throw noCertificate(what, file);
    }
    try {
      for (Certificate c :
          CertificateFactory.getInstance("X.509")
              .generateCertificates(new ByteArrayInputStream(bytes))) {
        certs.add((X509Certificate) c);
      }
    } catch (CertificateException e) {
      throw new IllegalArgumentException(
          what + " " + file + ": not a readable PEM certificate (" + e.getMessage() + ")", e);
    }
    if (certs.isEmpty()) {
      throw noCertificate(what, file);
    }
    return List.copyOf(certs);
  }

  private static IllegalArgumentException noCertificate(String what, Path file) {
    return new IllegalArgumentException(
        what
            + " "
            + file
            + ": no certificate (expected: one or more -----BEGIN CERTIFICATE----- blocks)");
  }

  /**
   * The unencrypted PKCS#8 private key ({@code -----BEGIN PRIVATE KEY-----}) in a PEM file: RSA,
   * EC, Ed25519 or Ed448.
   *
   * @throws IllegalArgumentException naming {@code what} and the file, never the key's bytes
   */
  public static PrivateKey readPrivateKey(String what, Path file) {
    String text = new String(read(what, file), StandardCharsets.US_ASCII);
    String begin = "-----BEGIN PRIVATE KEY-----";
    int from = text.indexOf(begin);
    if (from < 0) {
      String hint =
          text.contains("ENCRYPTED PRIVATE KEY")
              ? " (the key is encrypted; expected an unencrypted one: openssl pkcs8 -topk8 -nocrypt)"
              : text.contains("RSA PRIVATE KEY") || text.contains("EC PRIVATE KEY")
                  ? " (PKCS#1/SEC1 key; convert it: openssl pkcs8 -topk8 -nocrypt -in KEY)"
                  : " (expected: an unencrypted PKCS#8 key, -----BEGIN PRIVATE KEY-----)";
      throw new IllegalArgumentException(what + " " + file + ": no private key" + hint);
    }
    int to = text.indexOf("-----END PRIVATE KEY-----", from);
    if (to < 0) {
      throw new IllegalArgumentException(
          what + " " + file + ": no -----END PRIVATE KEY----- after the BEGIN line");
    }
    byte[] der;
    try {
      der = Base64.getMimeDecoder().decode(text.substring(from + begin.length(), to));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(
          what + " " + file + ": the private key is not valid base64", null);
    }
    PKCS8EncodedKeySpec spec = new PKCS8EncodedKeySpec(der);
    for (String algorithm : KEY_ALGORITHMS) {
      try {
        return KeyFactory.getInstance(algorithm).generatePrivate(spec);
      } catch (GeneralSecurityException e) {
        // the next algorithm, then a clear error: the exception might quote key material
      }
    }
    throw new IllegalArgumentException(
        what + " " + file + ": not an RSA, EC, Ed25519 or Ed448 PKCS#8 private key");
  }

  /**
   * Loads a PKCS#12 or JKS keystore, whichever its content is.
   *
   * @throws IllegalArgumentException naming {@code what} and the file
   */
  public static KeyStore readKeyStore(String what, Path file, char[] password) {
    byte[] bytes = read(what, file);
    // PKCS#12 is DER (starts with a SEQUENCE, 0x30); JKS starts with the magic FEEDFEED.
    boolean jks =
        bytes.length >= 4
            && (bytes[0] & 0xff) == 0xfe
            && (bytes[1] & 0xff) == 0xed
            && (bytes[2] & 0xff) == 0xfe
            && (bytes[3] & 0xff) == 0xed;
    try (InputStream in = new ByteArrayInputStream(bytes)) {
      KeyStore ks = KeyStore.getInstance(jks ? "JKS" : "PKCS12");
      ks.load(in, password);
      return ks;
    } catch (IOException | GeneralSecurityException e) {
      throw new IllegalArgumentException(
          what
              + " "
              + file
              + ": not a readable "
              + (jks ? "JKS" : "PKCS#12")
              + " keystore, or a wrong password ("
              + e.getMessage()
              + ")",
          null);
    }
  }

  private static byte[] read(String what, Path file) {
    try {
      return Files.readAllBytes(file);
    } catch (NoSuchFileException e) {
      throw new IllegalArgumentException(what + " " + file + ": no such file", e);
    } catch (IOException e) {
      throw new IllegalArgumentException(what + " " + file + ": unreadable (" + e + ")", e);
    }
  }

  /**
   * Whether {@code key} is the private half of {@code leaf}'s public key, by signing a probe with
   * it and verifying the signature.
   */
  public static boolean matches(PrivateKey key, X509Certificate leaf) {
    String alg =
        switch (key.getAlgorithm()) {
          case "RSA" -> "SHA256withRSA";
          case "EC" -> "SHA256withECDSA";
          case "Ed25519", "EdDSA" -> "Ed25519";
          case "Ed448" -> "Ed448";
          default -> null;
        };
    if (alg == null) {
      return false;
    }
    try {
      byte[] probe = "meshlet key check".getBytes(StandardCharsets.US_ASCII);
      Signature signer = Signature.getInstance(alg);
      signer.initSign(key);
      signer.update(probe);
      byte[] signature = signer.sign();
      Signature verifier = Signature.getInstance(alg);
      verifier.initVerify(leaf.getPublicKey()); // a key of another type throws: no match
      verifier.update(probe);
      return verifier.verify(signature);
    } catch (GeneralSecurityException e) {
      return false;
    }
  }

  // --- building ---

  /** A keystore holding {@code identity} under {@code alias}, with an empty password. */
  public static KeyStore keyStore(String alias, TlsIdentity identity) {
    return keyStore(Map.of(alias, identity));
  }

  /** A keystore holding each identity under its alias, with an empty password. */
  public static KeyStore keyStore(Map<String, TlsIdentity> identities) {
    try {
      KeyStore ks = KeyStore.getInstance("PKCS12");
      ks.load(null, null);
      for (Map.Entry<String, TlsIdentity> e : identities.entrySet()) {
        ks.setKeyEntry(
            e.getKey(),
            e.getValue().privateKey(),
            NO_PASSWORD,
            e.getValue().chain().toArray(new X509Certificate[0]));
      }
      return ks;
    } catch (IOException | GeneralSecurityException e) {
      throw new IllegalStateException(
          "cannot build an in-memory keystore: " + e.getMessage(), null);
    }
  }

  /** A keystore of {@code trust}'s certificates, or null for the JDK's default trust. */
  public static @Nullable KeyStore trustStore(TlsTrust trust) {
    if (trust.isSystem()) {
      return null;
    }
    try {
      KeyStore ks = KeyStore.getInstance("PKCS12");
      ks.load(null, null);
      List<X509Certificate> certs = trust.certificates();
      for (int i = 0; i < certs.size(); i++) {
        ks.setCertificateEntry("ca-" + i, certs.get(i));
      }
      return ks;
    } catch (IOException | GeneralSecurityException e) {
      throw new IllegalStateException("cannot build an in-memory trust store: " + e.getMessage());
    }
  }

  /**
   * The trust managers for {@code trust} (the JDK's default ones for {@link TlsTrust#system()}).
   */
  public static TrustManager[] trustManagers(TlsTrust trust) {
    try {
      TrustManagerFactory tmf =
          TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
      tmf.init(trustStore(trust));
      return tmf.getTrustManagers();
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("cannot build trust managers: " + e.getMessage(), e);
    }
  }

  /** The JDK's key manager over one identity. */
  public static X509ExtendedKeyManager keyManager(TlsIdentity identity) {
    try {
      KeyManagerFactory kmf = KeyManagerFactory.getInstance("SunX509");
      kmf.init(keyStore("identity", identity), NO_PASSWORD);
      for (KeyManager km : kmf.getKeyManagers()) {
        if (km instanceof X509ExtendedKeyManager x) {
          return x;
        }
      }
      throw new IllegalStateException("no X509ExtendedKeyManager from the JDK");
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("cannot build a key manager: " + e.getMessage(), null);
    }
  }

  /**
   * A server's key manager choosing among {@code tls}'s identities by the SNI name the client sent:
   * an exact name first, then the longest {@code *.suffix} match, else the default identity.
   */
  public static X509ExtendedKeyManager serverKeyManager(ServerTls tls) {
    return new SniKeyManager(tls);
  }

  /**
   * A server {@link SSLContext} for {@code tls} (SNI-chosen identities; client certificates, when
   * asked for, verified against {@code tls}'s client trust). Client auth and protocols are set on
   * each engine or socket by the caller ({@link #configure(SSLSocket, ServerTls)}).
   */
  public static SSLContext serverContext(ServerTls tls) {
    TlsTrust clientTrust = tls.clientTrust();
    return context(
        new KeyManager[] {serverKeyManager(tls)},
        clientTrust == null ? null : trustManagers(clientTrust));
  }

  /**
   * A client {@link SSLContext} for {@code tls}: its trust and, if any, its client identity; with
   * {@linkplain ClientTls#peers() peers} set, the handshake fails unless the server's certificate
   * names one of them.
   */
  public static SSLContext clientContext(ClientTls tls) {
    TlsIdentity identity = tls.identity();
    TrustManager[] tms = trustManagers(tls.trust());
    if (!tls.peers().isEmpty()) {
      for (int i = 0; i < tms.length; i++) {
        if (tms[i] instanceof X509ExtendedTrustManager x) {
          tms[i] = new PeerTrustManager(x, tls);
        }
      }
    }
    return context(identity == null ? null : new KeyManager[] {keyManager(identity)}, tms);
  }

  private static SSLContext context(KeyManager @Nullable [] kms, TrustManager @Nullable [] tms) {
    try {
      SSLContext ctx = SSLContext.getInstance("TLS");
      ctx.init(kms, tms, new SecureRandom());
      return ctx;
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("cannot build an SSLContext: " + e.getMessage(), e);
    }
  }

  /** Applies {@code tls}'s protocols and client-auth mode to an accepted server socket. */
  public static void configure(SSLSocket socket, ServerTls tls) {
    socket.setEnabledProtocols(tls.protocols().toArray(new String[0]));
    switch (tls.clientAuth()) {
      case REQUIRE -> socket.setNeedClientAuth(true);
      case REQUEST -> socket.setWantClientAuth(true);
      case NONE -> socket.setWantClientAuth(false);
    }
  }

  /**
   * Applies {@code tls}'s protocols, SNI name and (when on) hostname verification to a client
   * socket that connects to {@code host}.
   */
  public static void configure(SSLSocket socket, ClientTls tls, String host) {
    var params = socket.getSSLParameters();
    params.setProtocols(tls.protocols().toArray(new String[0]));
    String sni = tls.serverName() == null ? host : tls.serverName();
    if (isHostName(sni)) {
      params.setServerNames(List.of(new SNIHostName(sni)));
    }
    if (tls.verifyHostname()) {
      params.setEndpointIdentificationAlgorithm("HTTPS");
    }
    socket.setSSLParameters(params);
  }

  /** Whether {@code name} can go in SNI: a DNS name, not an IP literal. */
  public static boolean isHostName(String name) {
    return !name.isEmpty()
        && name.indexOf(':') < 0
        && !name.chars().allMatch(c -> c == '.' || (c >= '0' && c <= '9'));
  }

  /** Chooses the server certificate by SNI, as {@link ServerTls} lists them. */
  private static final class SniKeyManager extends X509ExtendedKeyManager {
    private static final String DEFAULT = "default";
    private final Map<String, String> exact;
    private final List<Map.Entry<String, String>> wildcards;
    private final Map<String, TlsIdentity> byAlias;

    SniKeyManager(ServerTls tls) {
      Map<String, String> exact = new HashMap<>();
      List<Map.Entry<String, String>> wildcards = new ArrayList<>();
      Map<String, TlsIdentity> byAlias = new HashMap<>();
      byAlias.put(DEFAULT, tls.identity());
      int i = 0;
      for (Map.Entry<String, TlsIdentity> e : tls.sniIdentities().entrySet()) {
        String alias = "sni-" + i++;
        byAlias.put(alias, e.getValue());
        String name = e.getKey().toLowerCase(Locale.ROOT);
        if (name.startsWith("*.")) {
          wildcards.add(Map.entry(name.substring(1), alias));
        } else {
          exact.put(name, alias);
        }
      }
      wildcards.sort((a, b) -> b.getKey().length() - a.getKey().length());
      this.exact = Map.copyOf(exact);
      this.wildcards = List.copyOf(wildcards);
      this.byAlias = Map.copyOf(byAlias);
    }

    private String aliasFor(@Nullable SSLSession session) {
      if (!(session instanceof ExtendedSSLSession s)) {
        return DEFAULT;
      }
      for (SNIServerName n : s.getRequestedServerNames()) {
        if (n instanceof SNIHostName h) {
          String host = h.getAsciiName().toLowerCase(Locale.ROOT);
          String alias = exact.get(host);
          if (alias != null) {
            return alias;
          }
          for (Map.Entry<String, String> w : wildcards) {
            // "*.example.com" covers one label more: "a.example.com", not "example.com" or "a.b."
            String suffix = w.getKey();
            if (host.endsWith(suffix) && host.indexOf('.') == host.length() - suffix.length()) {
              return w.getValue();
            }
          }
        }
      }
      return DEFAULT;
    }

    private @Nullable String choose(String keyType, @Nullable SSLSession session) {
      String alias = aliasFor(session);
      TlsIdentity identity = byAlias.get(alias);
      return identity != null && fits(identity, keyType) ? alias : null;
    }

    private static boolean fits(TlsIdentity identity, String keyType) {
      String alg = identity.privateKey().getAlgorithm();
      return alg.equals(keyType)
          || ("EdDSA".equals(keyType) && (alg.equals("Ed25519") || alg.equals("Ed448")));
    }

    @Override
    public @Nullable String chooseEngineServerAlias(
        String keyType, Principal @Nullable [] issuers, @Nullable SSLEngine engine) {
      return choose(keyType, engine == null ? null : engine.getHandshakeSession());
    }

    @Override
    public @Nullable String chooseServerAlias(
        String keyType, Principal @Nullable [] issuers, @Nullable Socket socket) {
      return choose(keyType, socket instanceof SSLSocket s ? s.getHandshakeSession() : null);
    }

    @Override
    public X509Certificate @Nullable [] getCertificateChain(String alias) {
      TlsIdentity identity = byAlias.get(alias);
      return identity == null ? null : identity.chain().toArray(new X509Certificate[0]);
    }

    @Override
    public @Nullable PrivateKey getPrivateKey(String alias) {
      TlsIdentity identity = byAlias.get(alias);
      return identity == null ? null : identity.privateKey();
    }

    @Override
    public String @Nullable [] getServerAliases(String keyType, Principal @Nullable [] issuers) {
      List<String> aliases = new ArrayList<>();
      byAlias.forEach(
          (alias, identity) -> {
            if (fits(identity, keyType)) {
              aliases.add(alias);
            }
          });
      return aliases.isEmpty() ? null : aliases.toArray(new String[0]);
    }

    @Override
    public String @Nullable [] getClientAliases(String keyType, Principal @Nullable [] issuers) {
      return null;
    }

    @Override
    public @Nullable String chooseClientAlias(
        String[] keyType, Principal @Nullable [] issuers, @Nullable Socket socket) {
      return null;
    }

    @Override
    public String toString() {
      return "SniKeyManager[exact=" + exact.keySet() + ", wildcards=" + wildcards + "]";
    }
  }
}
