package dev.meshlet.l7;

/**
 * The protocol the proxy speaks to a cluster's backends, chosen per cluster with {@link
 * HttpProxyBuilder#upstreamProtocol(dev.meshlet.core.Cluster, UpstreamProtocol)}. Whatever it is,
 * clients keep their own protocol: an HTTP/1.1 client reaches an HTTP/2 backend and the reverse.
 */
public enum UpstreamProtocol {
  /** HTTP/1.1, one request at a time per pooled connection: the default. */
  HTTP_1_1,

  /**
   * HTTP/2 in clear text by prior knowledge (no upgrade, no negotiation): the backend must speak
   * h2c. Requests share connections, up to {@link Http2Limits#maxStreamsPerUpstreamConnection()}
   * streams each. For a cluster without TLS.
   */
  H2C,

  /**
   * HTTP/2 over the cluster's TLS, offered by ALPN: a backend that does not offer {@code h2} is
   * spoken to in HTTP/1.1. For a cluster with {@link dev.meshlet.core.ClientTls}; on a cluster
   * without TLS it is {@link #H2C}.
   */
  H2
}
