package dev.meshlet.l7;

import dev.meshlet.core.ServerTls;
import dev.meshlet.l4.ProxyProtocol;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.jspecify.annotations.Nullable;

/** The validated, immutable settings of an {@link HttpProxy}. */
record ProxyConfig(
    String host,
    int port,
    List<HttpRoute> routes,
    @Nullable HttpRoute defaultRoute,
    Duration responseTimeout,
    Duration connectTimeout,
    Duration drainTimeout,
    Duration requestHeadTimeout,
    Duration idleTimeout,
    Duration upstreamIdleTimeout,
    int maxConnectionsPerBackend,
    int maxThreads,
    @Nullable AccessLog accessLog,
    HeaderOps requestHeaders,
    HeaderOps responseHeaders,
    List<Cidr> trustedProxies,
    boolean dropClientForwardedFor,
    String via,
    int maxRequestHeaderSize,
    int maxUriLength,
    boolean rejectUnderscoreHeaders,
    int maxConnections,
    int selectorThreads,
    long seed,
    int journalCapacity,
    RetryPolicy retryPolicy,
    Duration requestTimeout,
    int maxPendingRequestsPerBackend,
    Duration keepAliveTimeout,
    int acceptBacklog,
    Duration requestBodyTimeout,
    int requestBufferSize,
    long requestBufferBudget,
    @Nullable HeaderCapture journalHeaders,
    boolean generateTraceparent,
    @Nullable ServerTls tls,
    boolean watchTlsFiles,
    boolean forwardClientCert,
    boolean proxyProtocolIn,
    List<Cidr> proxyFronts,
    @Nullable ProxyProtocol proxyProtocolOut,
    boolean h2c,
    boolean h2,
    Http2Limits http2,
    Map<String, UpstreamProtocol> upstreamProtocols,
    @Nullable ResponseCompression compression,
    boolean latencyHistograms) {

  ProxyConfig {
    routes = List.copyOf(routes);
    upstreamProtocols = Map.copyOf(upstreamProtocols);
    trustedProxies = List.copyOf(trustedProxies);
    proxyFronts = List.copyOf(proxyFronts);
  }

  /** The protocol to speak to the backends of the cluster named {@code cluster}. */
  UpstreamProtocol upstreamProtocol(String cluster) {
    if (upstreamProtocols.isEmpty()) {
      return UpstreamProtocol.HTTP_1_1; // no lookup on the default path
    }
    return upstreamProtocols.getOrDefault(cluster, UpstreamProtocol.HTTP_1_1);
  }

  /** The largest HTTP/2 header block a client may send, in bytes. */
  int maxHeaderListSize() {
    return http2.maxHeaderListSize() > 0 ? http2.maxHeaderListSize() : maxRequestHeaderSize;
  }

  /** The routing table the proxy starts with. */
  RouteTable initialRoutes() {
    return new RouteTable(routes, defaultRoute);
  }

  boolean trusted(@Nullable InetAddress peer) {
    if (peer == null) {
      return false;
    }
    for (Cidr c : trustedProxies) {
      if (c.contains(peer)) {
        return true;
      }
    }
    return false;
  }

  /** An address block: {@code 10.0.0.0/8}, {@code ::1/128}, or a single address. */
  record Cidr(byte[] network, int bits, String text) {
    static Cidr parse(String text) {
      String t = text.strip();
      int slash = t.indexOf('/');
      String addr = slash < 0 ? t : t.substring(0, slash);
      if (addr.isEmpty() || !(addr.indexOf(':') >= 0 || Character.isDigit(addr.charAt(0)))) {
        throw new IllegalArgumentException(
            "trusted proxy '"
                + text
                + "': expected an IP address or CIDR block such as 10.0.0.0/8");
      }
      byte[] net;
      try {
        if (!addr.chars().allMatch(c -> Character.digit(c, 16) >= 0 || c == '.' || c == ':')) {
          throw new UnknownHostException(addr); // a literal only: never a DNS lookup
        }
        net = InetAddress.getByName(addr).getAddress();
      } catch (UnknownHostException e) {
        throw new IllegalArgumentException(
            "trusted proxy '" + text + "': expected an IP address or CIDR block such as 10.0.0.0/8",
            e);
      }
      int bits = net.length * 8;
      if (slash >= 0) {
        try {
          bits = Integer.parseInt(t.substring(slash + 1));
        } catch (NumberFormatException e) {
          bits = -1;
        }
        if (bits < 0 || bits > net.length * 8) {
          throw new IllegalArgumentException(
              "trusted proxy '" + text + "': prefix length (expected: 0-" + net.length * 8 + ")");
        }
      }
      return new Cidr(net, bits, t);
    }

    boolean contains(InetAddress a) {
      byte[] b = a.getAddress();
      if (b.length != network.length) {
        return false;
      }
      int full = bits / 8;
      for (int i = 0; i < full; i++) {
        if (b[i] != network[i]) {
          return false;
        }
      }
      int rest = bits % 8;
      if (rest == 0) {
        return true;
      }
      int mask = (0xFF << (8 - rest)) & 0xFF;
      return (b[full] & mask) == (network[full] & mask);
    }
  }
}
