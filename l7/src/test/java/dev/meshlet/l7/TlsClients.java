package dev.meshlet.l7;

import java.io.IOException;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.security.cert.X509Certificate;
import java.util.List;
import javax.net.ssl.SNIHostName;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLSocket;
import org.jspecify.annotations.Nullable;

/** TLS clients for the proxy's listener: an SSLSocket with a chosen SNI name, kept alive. */
final class TlsClients {
  private TlsClients() {}

  /** A handshaken connection to 127.0.0.1:{@code port}, asking for {@code sni} (none if null). */
  static SSLSocket connect(SSLContext ctx, int port, @Nullable String sni) throws IOException {
    SSLSocket s =
        (SSLSocket) ctx.getSocketFactory().createSocket(InetAddress.getLoopbackAddress(), port);
    s.setSoTimeout(20_000);
    var params = s.getSSLParameters();
    params.setServerNames(sni == null ? List.of() : List.of(new SNIHostName(sni)));
    s.setSSLParameters(params);
    s.startHandshake();
    return s;
  }

  /** The subject of the certificate the server showed on {@code s}. */
  static String peerSubject(SSLSocket s) throws IOException {
    return ((X509Certificate) s.getSession().getPeerCertificates()[0])
        .getSubjectX500Principal()
        .getName();
  }

  /** Sends a GET on the kept-alive {@code s} and reads its one response. */
  static Raw.Reply get(SSLSocket s, String host, String path, String... headers)
      throws IOException {
    StringBuilder req = new StringBuilder("GET " + path + " HTTP/1.1\r\nHost: " + host + "\r\n");
    for (int i = 0; i < headers.length; i += 2) {
      req.append(headers[i]).append(": ").append(headers[i + 1]).append("\r\n");
    }
    s.getOutputStream().write(req.append("\r\n").toString().getBytes(StandardCharsets.US_ASCII));
    s.getOutputStream().flush();
    return Raw.parse(Raw.readResponses(s.getInputStream(), 1));
  }
}
