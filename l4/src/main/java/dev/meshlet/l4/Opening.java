package dev.meshlet.l4;

import java.util.List;
import org.jspecify.annotations.Nullable;

/**
 * What a connection reads or writes before its bytes are spliced: the PROXY header it must begin
 * with ({@code proxyIn}, from {@code trustedFronts} only if any are listed), the ClientHello it is
 * routed by ({@code sni}), the PROXY header its backend is sent ({@code proxyOut}), whether its TLS
 * is terminated ({@code terminatesTls}), and the limits on all of it: {@code timeoutNanos} from
 * accept to the end of the client's TLS handshake, {@code maxHello} bytes.
 */
record Opening(
    boolean proxyIn,
    List<Cidr> trustedFronts,
    @Nullable ProxyProtocol proxyOut,
    @Nullable SniRoutes sni,
    boolean terminatesTls,
    long timeoutNanos,
    int maxHello) {
  /** A v2 header with TLVs beyond this is refused: fronts send far less (addresses, a few TLVs). */
  static final int MAX_PROXY_HEADER = 4096;

  Opening {
    trustedFronts = List.copyOf(trustedFronts);
  }

  /** Whether the client's first bytes are read before a backend is dialled. */
  boolean readsFirst() {
    return proxyIn || sni != null;
  }

  /** Whether anything of the opening runs against its deadline. */
  boolean timed() {
    return readsFirst() || terminatesTls;
  }

  /** The bytes a connection may buffer before it is dialled. */
  int capacity() {
    return (proxyIn ? MAX_PROXY_HEADER : 0) + (sni != null ? maxHello : 0);
  }
}
