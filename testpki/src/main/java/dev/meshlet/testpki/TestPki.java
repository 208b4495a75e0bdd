package dev.meshlet.testpki;

import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.math.BigInteger;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.SecureRandom;
import java.security.cert.X509Certificate;
import java.security.spec.ECGenParameterSpec;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Date;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import javax.net.ssl.KeyManager;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.asn1.x509.KeyUsage;
import org.bouncycastle.cert.X509v3CertificateBuilder;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.operator.OperatorCreationException;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;
import org.jspecify.annotations.Nullable;

/**
 * An in-process certificate authority for TLS tests: a CA and leaf certificates for DNS names, IP
 * addresses and SPIFFE IDs, expired ones and ones naming the wrong host, as JDK objects or PEM
 * files. Keys are EC P-256 (fast to make; {@link #rsaLeaf} for RSA 2048); nothing touches the
 * network or the JDK's trust.
 *
 * <pre>{@code
 * TestPki pki = TestPki.create();
 * TestPki.Leaf server = pki.leaf("localhost");
 * TestPki.Pem files = server.writePem(tempDir);   // chain + PKCS#8 key
 * HttpClient client = HttpClient.newBuilder().sslContext(pki.sslContext()).build();
 * }</pre>
 */
public final class TestPki {
  private static final AtomicLong SERIALS = new AtomicLong(System.nanoTime());
  private static final char[] NO_PASSWORD = new char[0];

  private final String name;
  private final KeyPair caKeys;
  private final X509Certificate ca;

  private TestPki(String name) {
    this.name = name;
    this.caKeys = newKeyPair();
    Instant now = Instant.now();
    this.ca =
        sign(
            new X500Name("CN=" + name),
            caKeys,
            new X500Name("CN=" + name),
            caKeys.getPrivate(),
            now.minus(Duration.ofHours(1)),
            now.plus(Duration.ofDays(30)),
            List.of(),
            List.of(),
            List.of(),
            true);
  }

  /** A new CA named "meshlet test CA". */
  public static TestPki create() {
    return new TestPki("meshlet test CA");
  }

  /** A new CA with the given common name; two CAs never trust each other's leaves. */
  public static TestPki create(String commonName) {
    return new TestPki(commonName);
  }

  /** The CA certificate. */
  public X509Certificate caCertificate() {
    return ca;
  }

  /** Writes the CA certificate as PEM to {@code dir}/{@code <name>-ca.pem}; returns the path. */
  public Path caPem(Path dir) {
    Path file = dir.resolve(fileName(name) + "-ca.pem");
    write(file, pem("CERTIFICATE", encoded(ca)));
    return file;
  }

  /** A trust store holding the CA certificate only. */
  public KeyStore trustStore() {
    try {
      KeyStore ks = KeyStore.getInstance("PKCS12");
      ks.load(null, null);
      ks.setCertificateEntry("ca", ca);
      return ks;
    } catch (IOException | GeneralSecurityException e) {
      throw new IllegalStateException(e);
    }
  }

  /** A client context trusting this CA only, with no client certificate. */
  public SSLContext sslContext() {
    return context(null);
  }

  /** A client context trusting this CA only and showing {@code client}'s certificate. */
  public SSLContext sslContext(Leaf client) {
    return context(client);
  }

  private SSLContext context(@Nullable Leaf identity) {
    try {
      TrustManagerFactory tmf =
          TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
      tmf.init(trustStore());
      KeyManager[] kms = null;
      if (identity != null) {
        KeyManagerFactory kmf = KeyManagerFactory.getInstance("SunX509");
        kmf.init(identity.keyStore(NO_PASSWORD), NO_PASSWORD);
        kms = kmf.getKeyManagers();
      }
      SSLContext ctx = SSLContext.getInstance("TLS");
      ctx.init(kms, tmf.getTrustManagers(), new SecureRandom());
      return ctx;
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException(e);
    }
  }

  /** A leaf for DNS names; the first is also the common name. {@code localhost} gets 127.0.0.1. */
  public Leaf leaf(String... dnsNames) {
    List<String> ips = new ArrayList<>();
    for (String n : dnsNames) {
      if (n.equals("localhost")) {
        ips.add("127.0.0.1");
      }
    }
    return leafFor(List.of(dnsNames), ips);
  }

  /**
   * A leaf for DNS names, as {@link #leaf(String...)}, whose key is RSA 2048 rather than EC P-256
   * (signed by the same EC CA): to measure or test what an RSA server key costs.
   */
  public Leaf rsaLeaf(String... dnsNames) {
    List<String> ips = new ArrayList<>();
    for (String n : dnsNames) {
      if (n.equals("localhost")) {
        ips.add("127.0.0.1");
      }
    }
    return issue(List.of(dnsNames), ips, List.of(), Duration.ofDays(1), false, rsaKeyPair());
  }

  /** A leaf for DNS names and IP addresses, valid from an hour ago for a day. */
  public Leaf leafFor(List<String> dnsNames, List<String> ipAddresses) {
    return issue(dnsNames, ipAddresses, List.of(), Duration.ofDays(1), false);
  }

  /**
   * A workload leaf whose URI name is {@code spiffeId} (e.g. {@code
   * spiffe://cluster.local/ns/default/sa/web}), also naming {@code dnsNames} (none is fine) and
   * 127.0.0.1.
   */
  public Leaf spiffe(String spiffeId, String... dnsNames) {
    return issue(
        List.of(dnsNames), List.of("127.0.0.1"), List.of(spiffeId), Duration.ofDays(1), false);
  }

  /** A leaf for {@code dnsNames} (and 127.0.0.1) that expired an hour ago. */
  public Leaf expired(String... dnsNames) {
    return issue(List.of(dnsNames), List.of("127.0.0.1"), List.of(), Duration.ofDays(1), true);
  }

  /** A valid leaf naming only {@code wrong.example.invalid}: no test connects to that. */
  public Leaf wrongHost() {
    return issue(List.of("wrong.example.invalid"), List.of(), List.of(), Duration.ofDays(1), false);
  }

  private Leaf issue(
      List<String> dns, List<String> ips, List<String> uris, Duration life, boolean expired) {
    return issue(dns, ips, uris, life, expired, newKeyPair());
  }

  private Leaf issue(
      List<String> dns,
      List<String> ips,
      List<String> uris,
      Duration life,
      boolean expired,
      KeyPair keys) {
    Instant now = Instant.now();
    Instant from =
        expired ? now.minus(life).minus(Duration.ofHours(1)) : now.minus(Duration.ofHours(1));
    Instant to = expired ? now.minus(Duration.ofHours(1)) : now.plus(life);
    String cn = !dns.isEmpty() ? dns.get(0) : !uris.isEmpty() ? uris.get(0) : "leaf";
    X509Certificate cert =
        sign(
            new X500Name("CN=" + cn.replace(",", "\\,")),
            keys,
            new X500Name("CN=" + name),
            caKeys.getPrivate(),
            from,
            to,
            dns,
            ips,
            uris,
            false);
    return new Leaf(cert, List.of(cert, ca), keys.getPrivate());
  }

  /** A leaf certificate, its chain (leaf, CA) and its private key. */
  public static final class Leaf {
    private final X509Certificate certificate;
    private final List<X509Certificate> chain;
    private final PrivateKey privateKey;

    Leaf(X509Certificate certificate, List<X509Certificate> chain, PrivateKey privateKey) {
      this.certificate = certificate;
      this.chain = chain;
      this.privateKey = privateKey;
    }

    /** The leaf certificate. */
    public X509Certificate certificate() {
      return certificate;
    }

    /** The chain a server shows: the leaf, then the CA. */
    public List<X509Certificate> chain() {
      return chain;
    }

    /** The leaf's private key. */
    public PrivateKey privateKey() {
      return privateKey;
    }

    /**
     * Writes {@code <cn>.crt} (the chain, PEM) and {@code <cn>.key} (unencrypted PKCS#8 PEM) to
     * {@code dir}, replacing files of those names.
     */
    public Pem writePem(Path dir) {
      String base = fileName(PeerName.of(certificate));
      return writePem(dir.resolve(base + ".crt"), dir.resolve(base + ".key"));
    }

    /** Writes the chain and the key as PEM to the given files, replacing them. */
    public Pem writePem(Path chainFile, Path keyFile) {
      StringBuilder sb = new StringBuilder();
      for (X509Certificate c : chain) {
        sb.append(pem("CERTIFICATE", encoded(c)));
      }
      write(chainFile, sb.toString());
      write(keyFile, pem("PRIVATE KEY", privateKey.getEncoded()));
      return new Pem(chainFile, keyFile);
    }

    /**
     * A PKCS#12 keystore with this leaf under alias {@code leaf}, protected by {@code password}.
     */
    public KeyStore keyStore(char[] password) {
      try {
        KeyStore ks = KeyStore.getInstance("PKCS12");
        ks.load(null, null);
        ks.setKeyEntry("leaf", privateKey, password, chain.toArray(new X509Certificate[0]));
        return ks;
      } catch (IOException | GeneralSecurityException e) {
        throw new IllegalStateException(e);
      }
    }

    /** Writes {@link #keyStore(char[])} to {@code file} in the given type (PKCS12 or JKS). */
    public Path writeKeyStore(Path file, String type, char[] password) {
      try (OutputStream out = Files.newOutputStream(file)) {
        KeyStore ks = KeyStore.getInstance(type);
        ks.load(null, null);
        ks.setKeyEntry("leaf", privateKey, password, chain.toArray(new X509Certificate[0]));
        ks.store(out, password);
        return file;
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      } catch (GeneralSecurityException e) {
        throw new IllegalStateException(e);
      }
    }

    /** A server context showing this leaf, trusting nothing (no client certificates). */
    public SSLContext serverContext() {
      try {
        KeyManagerFactory kmf = KeyManagerFactory.getInstance("SunX509");
        kmf.init(keyStore(NO_PASSWORD), NO_PASSWORD);
        SSLContext ctx = SSLContext.getInstance("TLS");
        ctx.init(kmf.getKeyManagers(), null, new SecureRandom());
        return ctx;
      } catch (GeneralSecurityException e) {
        throw new IllegalStateException(e);
      }
    }

    @Override
    public String toString() {
      return "Leaf[" + certificate.getSubjectX500Principal().getName() + "]";
    }
  }

  /** Where {@link Leaf#writePem(Path)} put a leaf's chain and key. */
  public record Pem(Path chain, Path key) {}

  /** The common name in a certificate's subject, for file names. */
  private static final class PeerName {
    static String of(X509Certificate c) {
      String dn = c.getSubjectX500Principal().getName();
      return dn.startsWith("CN=") ? dn.substring(3) : dn;
    }
  }

  private static String fileName(String s) {
    return s.replaceAll("[^A-Za-z0-9._-]+", "_");
  }

  private static KeyPair rsaKeyPair() {
    try {
      KeyPairGenerator g = KeyPairGenerator.getInstance("RSA");
      g.initialize(2048);
      return g.generateKeyPair();
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException(e);
    }
  }

  private static KeyPair newKeyPair() {
    try {
      KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
      g.initialize(new ECGenParameterSpec("secp256r1"));
      return g.generateKeyPair();
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException(e);
    }
  }

  private static X509Certificate sign(
      X500Name subject,
      KeyPair subjectKeys,
      X500Name issuer,
      PrivateKey issuerKey,
      Instant from,
      Instant to,
      List<String> dns,
      List<String> ips,
      List<String> uris,
      boolean isCa) {
    try {
      X509v3CertificateBuilder b =
          new JcaX509v3CertificateBuilder(
              issuer,
              BigInteger.valueOf(SERIALS.incrementAndGet()),
              Date.from(from),
              Date.from(to),
              subject,
              subjectKeys.getPublic());
      b.addExtension(Extension.basicConstraints, true, new BasicConstraints(isCa));
      b.addExtension(
          Extension.keyUsage,
          true,
          new KeyUsage(
              isCa
                  ? KeyUsage.keyCertSign | KeyUsage.cRLSign
                  : KeyUsage.digitalSignature | KeyUsage.keyEncipherment));
      List<GeneralName> names = new ArrayList<>();
      for (String d : dns) {
        names.add(new GeneralName(GeneralName.dNSName, d));
      }
      for (String ip : ips) {
        names.add(new GeneralName(GeneralName.iPAddress, ipLiteral(ip)));
      }
      for (String u : uris) {
        names.add(new GeneralName(GeneralName.uniformResourceIdentifier, u));
      }
      if (!names.isEmpty()) {
        b.addExtension(
            Extension.subjectAlternativeName,
            false,
            new GeneralNames(names.toArray(new GeneralName[0])));
      }
      return new JcaX509CertificateConverter()
          .getCertificate(b.build(new JcaContentSignerBuilder("SHA256withECDSA").build(issuerKey)));
    } catch (IOException | GeneralSecurityException | OperatorCreationException e) {
      throw new IllegalStateException("cannot issue a test certificate: " + e, e);
    }
  }

  private static String ipLiteral(String ip) {
    try {
      // a literal only: InetAddress.getByName does no lookup for one
      return InetAddress.getByName(ip).getHostAddress();
    } catch (UnknownHostException e) {
      throw new IllegalArgumentException("not an IP address: " + ip, e);
    }
  }

  private static byte[] encoded(X509Certificate c) {
    try {
      return c.getEncoded();
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException(e);
    }
  }

  private static String pem(String type, byte[] der) {
    return "-----BEGIN "
        + type
        + "-----\n"
        + Base64.getMimeEncoder(64, new byte[] {'\n'}).encodeToString(der)
        + "\n-----END "
        + type
        + "-----\n";
  }

  private static void write(Path file, String text) {
    try {
      Files.writeString(file, text, StandardCharsets.US_ASCII);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
