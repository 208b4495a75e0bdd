package dev.meshlet.core;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import org.jspecify.annotations.Nullable;

/**
 * TLS on a proxy's listener (termination): the certificate to show, more certificates chosen by the
 * name the client asks for (SNI), and whether to ask for client certificates (mutual TLS).
 *
 * <pre>{@code
 * ServerTls tls = ServerTls.builder(TlsIdentity.pem(Path.of("default.crt"), Path.of("default.key")))
 *     .sni("api.example.com", TlsIdentity.pem(Path.of("api.crt"), Path.of("api.key")))
 *     .sni("*.internal.example.com", TlsIdentity.pem(Path.of("int.crt"), Path.of("int.key")))
 *     .clientAuth(ServerTls.ClientAuth.REQUIRE, TlsTrust.pem(Path.of("mesh-ca.pem")))
 *     .build();
 * }</pre>
 *
 * <p>Defaults: no client certificate asked for, TLS 1.3 and 1.2 only, no renegotiation. An SNI name
 * is exact ({@code api.example.com}) or a wildcard ({@code *.example.com}, one label more); an
 * exact name wins over a wildcard, the longer wildcard over the shorter, and a client that asks for
 * no known name (or sends no SNI) gets the default identity.
 */
public final class ServerTls {
  static final List<String> DEFAULT_PROTOCOLS = List.of("TLSv1.3", "TLSv1.2");

  /** Whether a server asks its clients for certificates. */
  public enum ClientAuth {
    /** No client certificate asked for (the default). */
    NONE,
    /** Asked for; a client may send none, one it sends must verify against the trust. */
    REQUEST,
    /** Required: a client without a certificate that verifies fails the handshake. */
    REQUIRE
  }

  private final TlsIdentity identity;
  private final Map<String, TlsIdentity> sni;
  private final ClientAuth clientAuth;
  private final @Nullable TlsTrust clientTrust;
  private final List<String> protocols;

  private ServerTls(Builder b) {
    this.identity = b.identity;
    this.sni = Map.copyOf(b.sni);
    this.clientAuth = b.clientAuth;
    this.clientTrust = b.clientTrust;
    this.protocols = b.protocols;
  }

  /** Starts with {@code identity} as the default certificate. */
  public static Builder builder(TlsIdentity identity) {
    return new Builder(identity);
  }

  /** TLS with one certificate and every default. */
  public static ServerTls of(TlsIdentity identity) {
    return builder(identity).build();
  }

  /** A builder holding this configuration, to derive a variant. */
  public Builder toBuilder() {
    Builder b = new Builder(identity);
    b.sni.putAll(sni);
    b.clientAuth = clientAuth;
    b.clientTrust = clientTrust;
    b.protocols = protocols;
    return b;
  }

  /** The default certificate: for clients that send no SNI or an unknown name. */
  public TlsIdentity identity() {
    return identity;
  }

  /** The certificates chosen by SNI, keyed by lower-case name or {@code *.suffix}. */
  public Map<String, TlsIdentity> sniIdentities() {
    return sni;
  }

  /** Whether client certificates are asked for; default {@link ClientAuth#NONE}. */
  public ClientAuth clientAuth() {
    return clientAuth;
  }

  /** The CAs client certificates must chain to; null when none are asked for. */
  public @Nullable TlsTrust clientTrust() {
    return clientTrust;
  }

  /** The protocols accepted; default {@code [TLSv1.3, TLSv1.2]}. */
  public List<String> protocols() {
    return protocols;
  }

  /** Every identity: the default one first, then the SNI ones. */
  public List<TlsIdentity> identities() {
    List<TlsIdentity> all = new ArrayList<>();
    all.add(identity);
    all.addAll(sni.values());
    return all;
  }

  /**
   * This configuration read again from its files: certificates, keys and the client trust. What was
   * built in memory stays as it is.
   *
   * @throws IllegalArgumentException naming the file that no longer reads
   */
  public ServerTls reload() {
    Builder b = new Builder(identity.reload());
    sni.forEach((name, id) -> b.sni.put(name, id.reload()));
    b.clientAuth = clientAuth;
    b.clientTrust = clientTrust == null ? null : clientTrust.reload();
    b.protocols = protocols;
    return b.build();
  }

  static List<String> checkProtocols(String... protocols) {
    if (protocols.length == 0) {
      throw new IllegalArgumentException("protocols: none (expected: TLSv1.3 and/or TLSv1.2)");
    }
    List<String> list = new ArrayList<>();
    for (String p : protocols) {
      if (!DEFAULT_PROTOCOLS.contains(p)) {
        throw new IllegalArgumentException(
            "protocols: " + p + " (expected: TLSv1.3 or TLSv1.2; older ones are not offered)");
      }
      if (!list.contains(p)) {
        list.add(p);
      }
    }
    return List.copyOf(list);
  }

  @Override
  public boolean equals(@Nullable Object o) {
    return o instanceof ServerTls s
        && s.identity.equals(identity)
        && s.sni.equals(sni)
        && s.clientAuth == clientAuth
        && Objects.equals(s.clientTrust, clientTrust)
        && s.protocols.equals(protocols);
  }

  @Override
  public int hashCode() {
    return Objects.hash(identity, sni, clientAuth, clientTrust, protocols);
  }

  @Override
  public String toString() {
    return "ServerTls["
        + identity
        + (sni.isEmpty() ? "" : ", sni=" + sni.keySet())
        + ", clientAuth="
        + clientAuth
        + (clientTrust == null ? "" : " " + clientTrust)
        + ", protocols="
        + protocols
        + "]";
  }

  /** Collects server TLS settings; {@link #build()} checks them. */
  public static final class Builder {
    private final TlsIdentity identity;
    private final Map<String, TlsIdentity> sni = new LinkedHashMap<>();
    private ClientAuth clientAuth = ClientAuth.NONE;
    private @Nullable TlsTrust clientTrust;
    private List<String> protocols = DEFAULT_PROTOCOLS;

    private Builder(TlsIdentity identity) {
      this.identity = Objects.requireNonNull(identity, "identity");
    }

    /**
     * Shows {@code identity} to clients asking for {@code name} in SNI: a DNS name or {@code
     * *.suffix}, case-insensitive.
     *
     * @throws IllegalArgumentException for a name that is blank, an IP address, has a wildcard
     *     elsewhere than as the whole first label, or was given before
     */
    public Builder sni(String name, TlsIdentity identity) {
      Objects.requireNonNull(name, "name");
      Objects.requireNonNull(identity, "identity");
      String n = name.toLowerCase(Locale.ROOT);
      boolean wildcard = n.startsWith("*.");
      String rest = wildcard ? n.substring(2) : n;
      if (rest.isEmpty()
          || rest.contains("*")
          || rest.startsWith(".")
          || rest.endsWith(".")
          || rest.contains(":")
          || rest.chars().allMatch(c -> c == '.' || (c >= '0' && c <= '9'))) {
        throw new IllegalArgumentException(
            "sni: \""
                + name
                + "\" (expected: a DNS name such as api.example.com or *.example.com)");
      }
      if (sni.putIfAbsent(n, identity) != null) {
        throw new IllegalArgumentException("sni: \"" + name + "\" given twice");
      }
      return this;
    }

    /**
     * Asks clients for certificates that chain to {@code trust}: {@link ClientAuth#REQUEST} or
     * {@link ClientAuth#REQUIRE}; {@link ClientAuth#NONE} clears it (then {@code trust} is unused).
     */
    public Builder clientAuth(ClientAuth mode, TlsTrust trust) {
      this.clientAuth = Objects.requireNonNull(mode, "mode");
      Objects.requireNonNull(trust, "trust");
      this.clientTrust = mode == ClientAuth.NONE ? null : trust;
      return this;
    }

    /**
     * The protocols to accept, of {@code TLSv1.3} and {@code TLSv1.2}; default both.
     *
     * @throws IllegalArgumentException for any other, or none
     */
    public Builder protocols(String... protocols) {
      this.protocols = checkProtocols(protocols);
      return this;
    }

    /** The configuration. */
    public ServerTls build() {
      return new ServerTls(this);
    }
  }
}
