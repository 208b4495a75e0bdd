package dev.meshlet.l4;

import dev.meshlet.core.ClientTls;
import dev.meshlet.core.Endpoint;
import dev.meshlet.core.ServerTls;
import dev.meshlet.core.internal.TlsContexts;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.SSLSocketFactory;
import org.jspecify.annotations.Nullable;

/**
 * The proxy's TLS: the context clients handshake with when it terminates ({@link
 * TcpProxyBuilder#tls(ServerTls)}), and one client context per cluster {@link ClientTls} when it
 * originates TLS to backends, made once and shared by their connections. Handshakes run on the
 * connection's thread, over the JDK's {@link SSLSocket} layered on the connection's channel.
 */
final class TlsSides {
  private final @Nullable ServerTls server;
  private final @Nullable SSLSocketFactory serverFactory;
  private final Map<ClientTls, SSLSocketFactory> clients = new ConcurrentHashMap<>();

  TlsSides(@Nullable ServerTls server) {
    this.server = server;
    this.serverFactory =
        server != null ? TlsContexts.serverContext(server).getSocketFactory() : null;
  }

  /** Whether the proxy terminates clients' TLS. */
  boolean terminates() {
    return server != null;
  }

  /**
   * Handshakes with the client as the server: {@code consumed} are bytes read from it already (its
   * ClientHello, when SNI routing read it), given to TLS first.
   */
  Wire acceptTls(SocketChannel client, ByteBuffer consumed) throws IOException {
    ServerTls tls = server;
    SSLSocketFactory f = serverFactory;
    if (tls == null || f == null) {
      throw new IllegalStateException("no tls(ServerTls) on this proxy");
    }
    byte[] early = new byte[consumed.remaining()];
    consumed.get(early);
    SSLSocket s =
        (SSLSocket) f.createSocket(client.socket(), new ByteArrayInputStream(early), true);
    TlsContexts.configure(s, tls);
    s.startHandshake();
    return Wire.tls(client, s);
  }

  /**
   * Handshakes with {@code endpoint} as a client, as {@code tls} says (SNI and, by default, the
   * host name verified against its certificate), each read waiting at most {@code timeoutMillis}.
   */
  Wire connectTls(SocketChannel backend, ClientTls tls, Endpoint endpoint, int timeoutMillis)
      throws IOException {
    SSLSocketFactory f =
        clients.computeIfAbsent(tls, t -> TlsContexts.clientContext(t).getSocketFactory());
    String host = endpoint.backend().host();
    SSLSocket s =
        (SSLSocket) f.createSocket(backend.socket(), host, endpoint.backend().port(), true);
    TlsContexts.configure(s, tls, host);
    s.setSoTimeout(timeoutMillis);
    s.startHandshake();
    s.setSoTimeout(0);
    return Wire.tls(backend, s);
  }
}
