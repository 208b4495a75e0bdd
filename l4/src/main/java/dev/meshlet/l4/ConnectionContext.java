package dev.meshlet.l4;

import dev.meshlet.core.Endpoint;
import dev.meshlet.core.internal.JournalWriter;

/** What a connection needs from its proxy, and all it may ask of it. */
interface ConnectionContext extends SpliceContext {
  /** Where the connection's events go. */
  JournalWriter<TcpEvent> journal();

  /** What a connection reads and writes before its bytes are spliced. */
  Opening opening();

  /** The proxy's TLS contexts, toward clients and toward backends. */
  TlsSides tls();

  /** How long a backend's TLS handshake may wait for each read, in milliseconds. */
  int handshakeTimeoutMillis();

  /** How many backends to try, at most. */
  int connectAttempts();

  /** How long one connect attempt may take, in milliseconds (at least 1). */
  int connectTimeoutMillis();

  /**
   * A connect attempt found {@code endpoint}'s host unresolved (its name did not resolve when it
   * joined the cluster): counted, and logged once per endpoint.
   */
  void unresolved(Endpoint endpoint);

  /** The connection has ended (called once, by {@link Connection#end}): it leaves the registry. */
  void ended(Connection connection);
}
