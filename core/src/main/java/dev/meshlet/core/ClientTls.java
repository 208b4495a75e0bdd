package dev.meshlet.core;

import java.security.cert.X509Certificate;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import org.jspecify.annotations.Nullable;

/**
 * TLS from a proxy to a cluster's backends (origination): whom to trust, what identity to show, and
 * how to check the backend's name. Immutable; set on a cluster with {@link
 * Cluster.Builder#tls(ClientTls)}.
 *
 * <pre>{@code
 * ClientTls tls = ClientTls.builder()
 *     .trust(TlsTrust.pem(Path.of("backend-ca.pem")))
 *     .identity(TlsIdentity.pem(Path.of("me.crt"), Path.of("me.key")))
 *     .build();
 * }</pre>
 *
 * <p>Defaults: the JDK's trust, no client certificate, hostname verification on (the backend's
 * certificate must name the host it is dialled at, or {@link Builder#serverName(String)}), SNI set
 * to that same name, TLS 1.3 and 1.2 only.
 */
public final class ClientTls {
  private final TlsTrust trust;
  private final @Nullable TlsIdentity identity;
  private final boolean verifyHostname;
  private final @Nullable String serverName;
  private final List<String> protocols;
  private final Set<String> peers;

  private ClientTls(Builder b) {
    this.trust = b.trust;
    this.identity = b.identity;
    this.verifyHostname = b.verifyHostname;
    this.serverName = b.serverName;
    this.protocols = b.protocols;
    this.peers = b.peers;
  }

  /** Starts from the defaults in the class description. */
  public static Builder builder() {
    return new Builder();
  }

  /** TLS with every default: system trust, hostname verification, no client certificate. */
  public static ClientTls system() {
    return builder().build();
  }

  /** A builder holding this configuration, to derive a variant. */
  public Builder toBuilder() {
    Builder b = new Builder();
    b.trust = trust;
    b.identity = identity;
    b.verifyHostname = verifyHostname;
    b.serverName = serverName;
    b.protocols = protocols;
    b.peers = peers;
    return b;
  }

  /** Whom to trust; default {@link TlsTrust#system()}. */
  public TlsTrust trust() {
    return trust;
  }

  /** The client certificate shown when the backend asks for one; none by default. */
  public @Nullable TlsIdentity identity() {
    return identity;
  }

  /** Whether the backend's certificate must name the backend; default true. */
  public boolean verifyHostname() {
    return verifyHostname;
  }

  /**
   * The name sent in SNI and verified against the backend's certificate instead of the backend's
   * host; null (the default) means the backend's host.
   */
  public @Nullable String serverName() {
    return serverName;
  }

  /** The protocols offered, preferred first; default {@code [TLSv1.3, TLSv1.2]}. */
  public List<String> protocols() {
    return protocols;
  }

  /**
   * The identities the backend's certificate must name one of (SPIFFE IDs, URI or DNS names,
   * subjects; see {@link PeerIdentity#matches(String)}); empty (the default) for any.
   */
  public Set<String> peers() {
    return peers;
  }

  /** Whether {@code certificate} names one of {@link #peers()}, or there are none to name. */
  public boolean acceptsPeer(X509Certificate certificate) {
    if (peers.isEmpty()) {
      return true;
    }
    PeerIdentity p = PeerIdentity.from(certificate);
    for (String n : peers) {
      if (p.matches(n)) {
        return true;
      }
    }
    return false;
  }

  /** This same configuration read again from its files (certificate and CA rotation). */
  public ClientTls reload() {
    Builder b = toBuilder();
    b.trust = trust.reload();
    b.identity = identity == null ? null : identity.reload();
    return b.build();
  }

  @Override
  public boolean equals(@Nullable Object o) {
    return o instanceof ClientTls c
        && c.trust.equals(trust)
        && Objects.equals(c.identity, identity)
        && c.verifyHostname == verifyHostname
        && Objects.equals(c.serverName, serverName)
        && c.protocols.equals(protocols)
        && c.peers.equals(peers);
  }

  @Override
  public int hashCode() {
    return Objects.hash(trust, identity, verifyHostname, serverName, protocols, peers);
  }

  @Override
  public String toString() {
    return "ClientTls[trust="
        + trust
        + (identity == null ? "" : ", identity=" + identity)
        + ", verifyHostname="
        + verifyHostname
        + (serverName == null ? "" : ", serverName=" + serverName)
        + ", protocols="
        + protocols
        + (peers.isEmpty() ? "" : ", peers=" + peers)
        + "]";
  }

  /** Collects client TLS settings; {@link #build()} checks them. */
  public static final class Builder {
    private TlsTrust trust = TlsTrust.system();
    private @Nullable TlsIdentity identity;
    private boolean verifyHostname = true;
    private @Nullable String serverName;
    private List<String> protocols = ServerTls.DEFAULT_PROTOCOLS;
    private Set<String> peers = Set.of();

    private Builder() {}

    /**
     * Requires the backend's certificate to name one of {@code identities}, e.g. the SPIFFE ID of
     * the workload behind it ({@code spiffe://cluster.local/ns/default/sa/api}), as a mesh checks
     * the server's identity; checked in addition to hostname verification, which a sidecar dialling
     * 127.0.0.1 may turn off. Any identity by default.
     *
     * @throws IllegalArgumentException when none is given or one is blank
     */
    public Builder peers(String... identities) {
      if (identities.length == 0) {
        throw new IllegalArgumentException("peers: none given (expected: at least one identity)");
      }
      for (String i : identities) {
        if (i == null || i.isBlank()) {
          throw new IllegalArgumentException("peers: blank identity");
        }
      }
      this.peers = Set.of(identities);
      return this;
    }

    /** Whom to trust; default {@link TlsTrust#system()}. */
    public Builder trust(TlsTrust trust) {
      this.trust = Objects.requireNonNull(trust, "trust");
      return this;
    }

    /** The client certificate to show a backend that asks for one (mutual TLS). */
    public Builder identity(TlsIdentity identity) {
      this.identity = Objects.requireNonNull(identity, "identity");
      return this;
    }

    /**
     * Whether the backend's certificate must name the host it is dialled at (or {@link
     * #serverName}); default true. Turn off only where another check stands in, such as a pinned
     * private CA.
     */
    public Builder verifyHostname(boolean verify) {
      this.verifyHostname = verify;
      return this;
    }

    /** The SNI name, verified instead of the backend's host; default the backend's host. */
    public Builder serverName(String serverName) {
      Objects.requireNonNull(serverName, "serverName");
      if (serverName.isBlank()) {
        throw new IllegalArgumentException("serverName: blank (expected: a DNS name)");
      }
      this.serverName = serverName;
      return this;
    }

    /**
     * The protocols to offer, of {@code TLSv1.3} and {@code TLSv1.2}; default both.
     *
     * @throws IllegalArgumentException for any other, or none
     */
    public Builder protocols(String... protocols) {
      this.protocols = ServerTls.checkProtocols(protocols);
      return this;
    }

    /** The configuration. */
    public ClientTls build() {
      return new ClientTls(this);
    }
  }
}
