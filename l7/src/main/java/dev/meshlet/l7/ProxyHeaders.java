package dev.meshlet.l7;

import dev.meshlet.l4.ProxyProtocol;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.nio.ByteBuffer;
import java.util.List;
import org.eclipse.jetty.client.ProxyProtocolClientConnectionFactory.V1;
import org.eclipse.jetty.client.ProxyProtocolClientConnectionFactory.V2;
import org.eclipse.jetty.client.Request;
import org.eclipse.jetty.io.Connection;
import org.eclipse.jetty.io.EndPoint;
import org.eclipse.jetty.server.ConnectionFactory;
import org.eclipse.jetty.server.Connector;
import org.eclipse.jetty.server.ProxyConnectionFactory;
import org.jspecify.annotations.Nullable;

/**
 * The PROXY protocol on Jetty's own support: a strict acceptor for the listener, and the tag that
 * makes Jetty's client send a header on a backend connection.
 */
final class ProxyHeaders {
  private ProxyHeaders() {}

  /**
   * The listener's connection factories: {@code next}, behind a PROXY header acceptor if the config
   * asks for one.
   */
  static ConnectionFactory[] listener(
      ProxyConfig config, Counters total, ConnectionFactory... next) {
    if (!config.proxyProtocolIn()) {
      return next;
    }
    ConnectionFactory[] all = new ConnectionFactory[next.length + 1];
    all[0] = new Strict(total, config.proxyFronts());
    System.arraycopy(next, 0, all, 1, next.length);
    return all;
  }

  /**
   * Tags {@code proxyRequest} so that Jetty's client begins its connection with a header naming the
   * client of {@code clientRequest}; the tag makes a destination, and so a connection pool, of its
   * own, as a header belongs to one client connection.
   */
  static void tag(
      Request proxyRequest,
      org.eclipse.jetty.server.Request clientRequest,
      @Nullable ProxyProtocol version) {
    if (version == null) {
      return;
    }
    SocketAddress remote = clientRequest.getConnectionMetaData().getRemoteSocketAddress();
    SocketAddress local = clientRequest.getConnectionMetaData().getLocalSocketAddress();
    if (!(remote instanceof InetSocketAddress src) || src.getAddress() == null) {
      proxyRequest.tag(version == ProxyProtocol.V1 ? V1.Tag.UNKNOWN : V2.Tag.LOCAL);
      return;
    }
    // Jetty's two-argument tags take the family from the backend connection, so an IPv6 client
    // reaching an IPv4 backend would be written "TCP4 ::1": name the family and both ends here
    InetAddress from = src.getAddress();
    boolean v6 = from instanceof Inet6Address;
    InetAddress to = local instanceof InetSocketAddress dst ? dst.getAddress() : null;
    int toPort = local instanceof InetSocketAddress dst ? dst.getPort() : 0;
    String toText =
        to != null && (to instanceof Inet6Address) == v6
            ? to.getHostAddress()
            : v6 ? "::" : "0.0.0.0"; // of another family (or none): an address of the client's
    String fromText = from.getHostAddress(); // not getRemoteAddr's text: that brackets IPv6
    proxyRequest.tag(
        version == ProxyProtocol.V1
            ? new V1.Tag(v6 ? "TCP6" : "TCP4", fromText, src.getPort(), toText, toPort)
            : new V2.Tag(
                V2.Tag.Command.PROXY,
                v6 ? V2.Tag.Family.INET6 : V2.Tag.Family.INET4,
                V2.Tag.Protocol.STREAM,
                fromText,
                src.getPort(),
                toText,
                toPort,
                List.of()));
  }

  /**
   * Jetty's acceptor, made strict: Jetty passes a connection without a header on to HTTP, the
   * protocol's spec says to close it.
   */
  private static final class Strict extends ProxyConnectionFactory {
    private final Counters total;
    private final List<ProxyConfig.Cidr> fronts;

    Strict(Counters total, List<ProxyConfig.Cidr> fronts) {
      this.total = total;
      this.fronts = fronts;
    }

    /** A connection from an address that is no trusted front is closed before a byte is read. */
    @Override
    public Connection newConnection(Connector connector, EndPoint endPoint) {
      if (!fronts.isEmpty() && !trusted(endPoint.getRemoteSocketAddress())) {
        total.error(HttpProxyStats.ErrorKind.PROXY_HEADER);
        endPoint.close();
      }
      return super.newConnection(connector, endPoint);
    }

    private boolean trusted(@Nullable SocketAddress remote) {
      if (remote instanceof InetSocketAddress a && a.getAddress() != null) {
        for (ProxyConfig.Cidr c : fronts) {
          if (c.contains(a.getAddress())) {
            return true;
          }
        }
      }
      return false;
    }

    @Override
    protected void nextProtocol(Connector connector, EndPoint endPoint, ByteBuffer buffer) {
      total.error(HttpProxyStats.ErrorKind.PROXY_HEADER);
      endPoint.close();
    }
  }
}
