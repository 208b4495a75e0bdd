package dev.meshlet.core;

import java.security.cert.CertificateParsingException;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Objects;
import org.jspecify.annotations.Nullable;

/**
 * Who a TLS peer is, as its verified certificate says: what routes match on and authorization rules
 * allow.
 *
 * @param subject the subject's distinguished name (RFC 2253), e.g. {@code CN=web,O=example}
 * @param dnsNames the DNS subject alternative names
 * @param uris the URI subject alternative names
 * @param ipAddresses the IP address subject alternative names, as the JDK writes them
 * @param spiffeId the first URI name that is a SPIFFE ID ({@code spiffe://<trust-domain>/...}),
 *     e.g. {@code spiffe://cluster.local/ns/default/sa/web}; null when there is none
 */
public record PeerIdentity(
    String subject,
    List<String> dnsNames,
    List<String> uris,
    List<String> ipAddresses,
    @Nullable String spiffeId) {
  private static final int DNS = 2;
  private static final int URI = 6;
  private static final int IP = 7;

  /** Copies the lists. */
  public PeerIdentity {
    Objects.requireNonNull(subject, "subject");
    dnsNames = List.copyOf(dnsNames);
    uris = List.copyOf(uris);
    ipAddresses = List.copyOf(ipAddresses);
  }

  /** The identity {@code certificate} names; its signature and validity are not checked here. */
  public static PeerIdentity from(X509Certificate certificate) {
    Objects.requireNonNull(certificate, "certificate");
    List<String> dns = new ArrayList<>();
    List<String> uris = new ArrayList<>();
    List<String> ips = new ArrayList<>();
    try {
      Collection<List<?>> sans = certificate.getSubjectAlternativeNames();
      if (sans != null) {
        for (List<?> san : sans) {
          if (san.size() < 2 || !(san.get(0) instanceof Integer type)) {
            continue;
          }
          Object value = san.get(1);
          if (!(value instanceof String s)) {
            continue;
          }
          switch (type) {
            case DNS -> dns.add(s);
            case URI -> uris.add(s);
            case IP -> ips.add(s);
            default -> {}
          }
        }
      }
    } catch (CertificateParsingException e) {
      // a certificate whose names cannot be read names nothing beyond its subject
    }
    String spiffe = null;
    for (String u : uris) {
      if (u.startsWith("spiffe://")) {
        spiffe = u;
        break;
      }
    }
    return new PeerIdentity(
        certificate.getSubjectX500Principal().getName(), dns, uris, ips, spiffe);
  }

  /**
   * Whether {@code name} is this identity's SPIFFE ID, one of its URI or DNS names, or its subject.
   */
  public boolean matches(String name) {
    return name.equals(spiffeId)
        || uris.contains(name)
        || dnsNames.contains(name)
        || subject.equals(name);
  }
}
