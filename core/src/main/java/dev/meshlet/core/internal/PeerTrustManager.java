package dev.meshlet.core.internal;

import dev.meshlet.core.ClientTls;
import java.net.Socket;
import java.security.cert.CertificateException;
import java.security.cert.X509Certificate;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.X509ExtendedTrustManager;

/**
 * The JDK's trust manager, then a check that the server's certificate names one of the peers a
 * {@link ClientTls} expects: inside the handshake, so a wrong peer fails it with its reason, the
 * same way every time, instead of a closed connection after it.
 */
final class PeerTrustManager extends X509ExtendedTrustManager {
  /** The start of the message a wrong peer fails the handshake with. */
  static final String WRONG_PEER = "certificate names none of the peers expected";

  private final X509ExtendedTrustManager trust;
  private final ClientTls tls;

  PeerTrustManager(X509ExtendedTrustManager trust, ClientTls tls) {
    this.trust = trust;
    this.tls = tls;
  }

  private void checkPeer(X509Certificate[] chain) throws CertificateException {
    if (chain.length == 0 || !tls.acceptsPeer(chain[0])) {
      throw new CertificateException(WRONG_PEER + " " + tls.peers());
    }
  }

  @Override
  public void checkServerTrusted(X509Certificate[] chain, String authType, Socket socket)
      throws CertificateException {
    trust.checkServerTrusted(chain, authType, socket);
    checkPeer(chain);
  }

  @Override
  public void checkServerTrusted(X509Certificate[] chain, String authType, SSLEngine engine)
      throws CertificateException {
    trust.checkServerTrusted(chain, authType, engine);
    checkPeer(chain);
  }

  @Override
  public void checkServerTrusted(X509Certificate[] chain, String authType)
      throws CertificateException {
    trust.checkServerTrusted(chain, authType);
    checkPeer(chain);
  }

  @Override
  public void checkClientTrusted(X509Certificate[] chain, String authType, Socket socket)
      throws CertificateException {
    trust.checkClientTrusted(chain, authType, socket);
  }

  @Override
  public void checkClientTrusted(X509Certificate[] chain, String authType, SSLEngine engine)
      throws CertificateException {
    trust.checkClientTrusted(chain, authType, engine);
  }

  @Override
  public void checkClientTrusted(X509Certificate[] chain, String authType)
      throws CertificateException {
    trust.checkClientTrusted(chain, authType);
  }

  @Override
  public X509Certificate[] getAcceptedIssuers() {
    return trust.getAcceptedIssuers();
  }
}
