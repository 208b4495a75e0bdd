package dev.meshlet.xds;

import dev.meshlet.core.ClientTls;
import dev.meshlet.core.TlsIdentity;
import io.grpc.ChannelCredentials;
import io.grpc.TlsChannelCredentials;
import java.io.IOException;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.cert.X509Certificate;
import java.util.List;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.TrustManagerFactory;

/**
 * gRPC channel credentials from a {@link ClientTls}: its trust (the JDK's or its certificates) and
 * its client certificate for mTLS. gRPC always verifies the control plane's host name, so a
 * ClientTls that turns verification off, or that pins peer identities, is refused.
 */
final class ControlPlaneTls {
  private ControlPlaneTls() {}

  static void check(ClientTls tls) {
    if (!tls.verifyHostname()) {
      throw new IllegalArgumentException(
          "tls: verifyHostname(false) not supported for the control plane (expected: a certificate"
              + " naming the server, or serverName(...))");
    }
    if (!tls.peers().isEmpty()) {
      throw new IllegalArgumentException(
          "tls: peers(...) not supported for the control plane (expected: trust(...) alone)");
    }
  }

  static ChannelCredentials credentials(ClientTls tls) {
    try {
      TlsChannelCredentials.Builder b = TlsChannelCredentials.newBuilder();
      if (!tls.trust().isSystem()) {
        KeyStore trust = KeyStore.getInstance("PKCS12");
        trust.load(null, null);
        List<X509Certificate> certs = tls.trust().certificates();
        for (int i = 0; i < certs.size(); i++) {
          trust.setCertificateEntry("ca-" + i, certs.get(i));
        }
        TrustManagerFactory tmf =
            TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        tmf.init(trust);
        b.trustManager(tmf.getTrustManagers());
      }
      TlsIdentity identity = tls.identity();
      if (identity != null) {
        char[] password = new char[0];
        KeyStore keys = KeyStore.getInstance("PKCS12");
        keys.load(null, null);
        keys.setKeyEntry(
            "identity",
            identity.privateKey(),
            password,
            identity.chain().toArray(new X509Certificate[0]));
        KeyManagerFactory kmf =
            KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
        kmf.init(keys, password);
        b.keyManager(kmf.getKeyManagers());
      }
      return b.build();
    } catch (GeneralSecurityException | IOException e) {
      // the message names the failing step, never the key
      throw new IllegalArgumentException(
          "tls: cannot use the trust or identity for the control plane: "
              + e.getClass().getSimpleName(),
          e);
    }
  }
}
