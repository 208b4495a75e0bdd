package dev.meshlet.l4;

/**
 * A version of HAProxy's PROXY protocol, the header a proxy sends first on a connection to tell the
 * next hop the original client's address (see {@code
 * https://www.haproxy.org/download/2.9/doc/proxy-protocol.txt}).
 *
 * <pre>{@code
 * TcpProxy.builder().listen(0).backends(db).proxyProtocolOut(ProxyProtocol.V2).start();
 * }</pre>
 */
public enum ProxyProtocol {
  /** The text header, {@code PROXY TCP4 203.0.113.7 10.0.0.1 51234 5432\r\n}, at most 107 bytes. */
  V1,
  /** The binary header: a 12-byte signature, then the addresses in 12 (IPv4) or 36 (IPv6) bytes. */
  V2
}
