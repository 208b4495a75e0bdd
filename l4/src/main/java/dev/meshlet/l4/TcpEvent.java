package dev.meshlet.l4;

import dev.meshlet.core.Backend;
import java.net.InetSocketAddress;
import java.time.Instant;

/**
 * What a {@link TcpProxy} records in its {@linkplain TcpProxy#journal() journal}: one entry per
 * connection milestone and per toxic applied. Connections are numbered from 1 in accept order.
 *
 * <pre>{@code
 * proxy.awaitIdle(Duration.ofSeconds(5)); // a connection is journaled closed just after its client sees it
 * List<TcpEvent.Closed> closed = proxy.journal().entries(TcpEvent.Closed.class);
 * }</pre>
 *
 * <p>Made by meshlet for users to read, not to build: the canonical constructors of its records are
 * not part of the supported API and may gain components in a minor release (new components are
 * added last); read them through the accessors.
 */
public sealed interface TcpEvent {

  /** The connection this entry is about. */
  long connection();

  /** When it was recorded. */
  Instant at();

  /**
   * A client connection was accepted; with {@link TcpProxyBuilder#proxyProtocolIn proxyProtocolIn},
   * recorded once its PROXY header has been read (or, if it had none, as it is closed).
   *
   * @param connection the connection number
   * @param client the client's address: the PROXY header's source, if one was read, else the
   *     socket's peer
   * @param at when
   */
  record Opened(long connection, InetSocketAddress client, Instant at) implements TcpEvent {}

  /**
   * The proxy connected the client to a backend.
   *
   * @param connection the connection number
   * @param backend the backend the balancer chose
   * @param at when
   */
  record Connected(long connection, Backend backend, Instant at) implements TcpEvent {}

  /**
   * A connection accepted just as the proxy was {@linkplain TcpProxy#disable() disabled} was reset
   * at once. (Once disabled the proxy does not listen: clients get "connection refused", and
   * nothing is recorded.)
   *
   * @param connection the connection number
   * @param client the client's address
   * @param at when
   */
  record Refused(long connection, InetSocketAddress client, Instant at) implements TcpEvent {}

  /**
   * A toxic was drawn for a connection and now affects it.
   *
   * @param connection the connection number
   * @param name the name the toxic was added under
   * @param toxic the toxic
   * @param at when
   */
  record ToxicApplied(long connection, String name, Toxic toxic, Instant at) implements TcpEvent {}

  /**
   * A TLS handshake with a backend failed (the attempt counts as a failed connect; the next backend
   * is tried, if attempts are left).
   *
   * @param connection the connection number
   * @param backend the backend
   * @param reason why, as the JDK's TLS said it (e.g. "No subject alternative names matching IP
   *     address 127.0.0.1 found", or "Read timed out")
   * @param at when
   */
  record BackendTlsFailed(long connection, Backend backend, String reason, Instant at)
      implements TcpEvent {}

  /**
   * A connection ended.
   *
   * @param connection the connection number
   * @param bytesUpstream bytes forwarded client to backend
   * @param bytesDownstream bytes forwarded backend to client
   * @param cause why: {@code "closed"} (both sides finished), {@code "reset"}, {@code "idle
   *     timeout"}, {@code "proxy closed"}, {@code "no backend"}, {@code "disabled"}, {@code
   *     "overflow: cluster <name> max active|max pending"} (a circuit breaker), {@code "no socket:
   *     <error>"} (no file descriptor left for the backend socket), or {@code "toxic <name>:
   *     <what>"} when a toxic ended it, {@code "proxy header: <why>"}, {@code "client hello:
   *     <why>"}, {@code "tls handshake: <why>"} (each of these three also {@code ": timed out
   *     (handshakeTimeout)"})
   * @param at when
   */
  record Closed(long connection, long bytesUpstream, long bytesDownstream, String cause, Instant at)
      implements TcpEvent {}
}
