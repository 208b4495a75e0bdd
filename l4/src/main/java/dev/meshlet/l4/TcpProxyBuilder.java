package dev.meshlet.l4;

import dev.meshlet.core.Backend;
import dev.meshlet.core.Balancer;
import dev.meshlet.core.Cluster;
import dev.meshlet.core.ServerTls;
import dev.meshlet.core.internal.Checks;
import java.io.IOException;
import java.net.BindException;
import java.nio.channels.ServerSocketChannel;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import org.jspecify.annotations.Nullable;

/**
 * Collects a {@link TcpProxy}'s settings; {@link #start()} validates them and starts it. Defaults
 * are listed on each method.
 */
public final class TcpProxyBuilder {
  String host = "0.0.0.0";
  int port = -1;
  final List<Backend> backends = new ArrayList<>();
  @Nullable Balancer balancer;
  @Nullable Cluster cluster;
  Duration connectTimeout = Duration.ofSeconds(5);
  int connectAttempts = 3;
  Duration idleTimeout = Duration.ofHours(1);
  Duration drainTimeout = Duration.ofSeconds(5);
  int maxConnections = 10_000;
  int bufferSize = 64 * 1024;
  @Nullable Integer maxBufferSize;
  @Nullable Long bufferMemory;
  int bufferPoolSize = 256;
  int backlog = 1024;
  @Nullable Long seed;
  int journalCapacity = 10_000;
  final Map<String, Toxic> toxics = new LinkedHashMap<>();
  boolean proxyProtocolIn;
  final List<Cidr> trustedFronts = new ArrayList<>();
  @Nullable ProxyProtocol proxyProtocolOut;
  final List<SniRoutes.Route> sniRoutes = new ArrayList<>();
  boolean closeWithoutServerName;
  Duration handshakeTimeout = Duration.ofSeconds(5);
  int maxHelloSize = 16 * 1024;
  @Nullable ServerTls tls;
  private static final int MAX_BUFFER = 16 * 1024 * 1024;

  TcpProxyBuilder() {}

  /** The largest read buffer: as set, or 1 MiB (at least {@link #bufferSize}). */
  int maxBufferSize() {
    Integer max = maxBufferSize;
    return max != null ? max : Math.max(1024 * 1024, bufferSize);
  }

  /** The limit on lent buffer bytes: as set, or a quarter of the max heap, at most 256 MiB. */
  long bufferMemory() {
    Long limit = bufferMemory;
    return limit != null
        ? limit
        : Math.min(256L * 1024 * 1024, Runtime.getRuntime().maxMemory() / 4);
  }

  /**
   * The seed for every random draw the toxics make (toxicity, jitter, slice sizes); default a
   * random one, reported by {@link TcpProxy#seed()} and in {@link TcpProxy#toString()}. The same
   * seed and the same order of connections give the same faults. A cluster without a {@linkplain
   * Cluster.Builder#seed(long) seed} of its own (the first proxy to offer one wins) takes it for
   * its random picks too, so they replay as well.
   */
  public TcpProxyBuilder seed(long seed) {
    this.seed = seed;
    return this;
  }

  /**
   * How many entries the {@linkplain TcpProxy#journal() journal} keeps (the oldest are dropped and
   * counted beyond that); default 10,000; 0 keeps none.
   */
  public TcpProxyBuilder journalCapacity(int entries) {
    if (entries < 0) {
      throw new IllegalArgumentException("journalCapacity: " + entries + " (expected: >= 0)");
    }
    this.journalCapacity = entries;
    return this;
  }

  /** A toxic installed from the start, as if added with {@link Toxics#add(String, Toxic)}. */
  public TcpProxyBuilder toxic(String name, Toxic toxic) {
    Objects.requireNonNull(name, "name");
    Objects.requireNonNull(toxic, "toxic");
    if (toxics.putIfAbsent(name, toxic) != null) {
      throw new IllegalArgumentException("toxic '" + name + "' given twice");
    }
    return this;
  }

  /**
   * Listens on all interfaces (the wildcard address {@code 0.0.0.0}) at {@code port}, so other
   * machines can reach it; use {@link #listen(String, int)} with {@code 127.0.0.1} for this machine
   * only, as a test should. 0 picks a free port. Required (or {@code listen(host, port)}).
   */
  public TcpProxyBuilder listen(int port) {
    return listen("0.0.0.0", port);
  }

  /** Listens on {@code host} (a local address or name) at {@code port}; 0 picks a free port. */
  public TcpProxyBuilder listen(String host, int port) {
    Objects.requireNonNull(host, "host");
    if (port < 0 || port > 65535) {
      throw new IllegalArgumentException(
          "listen port: " + port + " (expected: 0-65535, 0 for any free port)");
    }
    this.host = host;
    this.port = port;
    return this;
  }

  /** The backends to forward to, balanced by {@link #balancer(Balancer)}. */
  public TcpProxyBuilder backends(Backend... backends) {
    return backends(Arrays.asList(backends));
  }

  /** The backends to forward to, balanced by {@link #balancer(Balancer)}. */
  public TcpProxyBuilder backends(List<Backend> backends) {
    for (Backend b : backends) {
      this.backends.add(Objects.requireNonNull(b, "backend"));
    }
    return this;
  }

  /** The balancer over {@link #backends(Backend...)}; default {@link Balancer#roundRobin()}. */
  public TcpProxyBuilder balancer(Balancer balancer) {
    this.balancer = Objects.requireNonNull(balancer, "balancer");
    return this;
  }

  /** Forward to an existing cluster (which brings its balancer) instead of listing backends. */
  public TcpProxyBuilder cluster(Cluster cluster) {
    this.cluster = Objects.requireNonNull(cluster, "cluster");
    return this;
  }

  /**
   * How long one attempt to connect to a backend may take, rounded up to whole milliseconds;
   * default 5 s.
   */
  public TcpProxyBuilder connectTimeout(Duration timeout) {
    this.connectTimeout = Checks.positive("connectTimeout", timeout);
    return this;
  }

  /**
   * How many backends to try, one after the other, before the client connection is closed (Envoy's
   * {@code max_connect_attempts}); default 3, never more than the backends in service.
   */
  public TcpProxyBuilder connectAttempts(int attempts) {
    if (attempts < 1) {
      throw new IllegalArgumentException("connectAttempts: " + attempts + " (expected: >= 1)");
    }
    this.connectAttempts = attempts;
    return this;
  }

  /**
   * Closes a connection with no traffic in either direction for this long; default 1 h; zero
   * disables.
   */
  public TcpProxyBuilder idleTimeout(Duration timeout) {
    this.idleTimeout = Checks.notNegative("idleTimeout", timeout);
    return this;
  }

  /**
   * How long {@link TcpProxy#close()} lets open connections finish before cutting them; default 5
   * s.
   */
  public TcpProxyBuilder drainTimeout(Duration timeout) {
    this.drainTimeout = Checks.notNegative("drainTimeout", timeout);
    return this;
  }

  /**
   * The most client connections open at once; default 10,000 (each costs two file descriptors, see
   * {@code ulimit -n}). When it is reached the proxy still accepts, so clients are not left waiting
   * in the backlog: each connection beyond it is closed at once, before any backend is dialled (the
   * client reads an end of stream, not "connection refused"), counted in {@link
   * TcpProxyStats#rejected()}, and the first is logged. Connections are taken again as soon as open
   * ones end.
   */
  public TcpProxyBuilder maxConnections(int max) {
    if (max < 1) {
      throw new IllegalArgumentException("maxConnections: " + max + " (expected: >= 1)");
    }
    this.maxConnections = max;
    return this;
  }

  /**
   * The size of the direct buffer a direction borrows when a burst of bytes starts; default 64 KiB,
   * between 1 KiB and 16 MiB. An idle connection holds only {@value ReadBuffers#SMALL} bytes per
   * direction and no borrowed buffer.
   */
  public TcpProxyBuilder bufferSize(int bytes) {
    if (bytes < 1024 || bytes > MAX_BUFFER) {
      throw new IllegalArgumentException(
          "bufferSize: " + bytes + " (expected: 1024 to 16777216 bytes)");
    }
    this.bufferSize = bytes;
    return this;
  }

  /**
   * The largest buffer a streaming direction grows to: while its reads keep filling the buffer and
   * more bytes wait, it swaps it for one 4× larger, up to this size, so a bulk stream moves more
   * bytes per system call (see bench/RESULTS.md). Default 1 MiB, or {@link #bufferSize} if larger;
   * at least {@code bufferSize}, at most 16 MiB.
   */
  public TcpProxyBuilder maxBufferSize(int bytes) {
    if (bytes < 1024 || bytes > MAX_BUFFER) {
      throw new IllegalArgumentException(
          "maxBufferSize: " + bytes + " (expected: 1024 to 16777216 bytes)");
    }
    this.maxBufferSize = bytes;
    return this;
  }

  /**
   * The most bytes of direct buffers lent to connections at once. Past it a direction that wants a
   * (larger) buffer goes on with a smaller size that fits, or with its {@value
   * ReadBuffers#SMALL}-byte heap buffer: slower, never stalled. Each such read is counted in {@link
   * TcpProxyStats#bufferLimitHits()} and the first is logged (running out of the JVM's direct
   * memory is treated alike, and logged once too). Default a quarter of the JVM's maximum heap (the
   * default limit of direct memory is the maximum heap), at most 256 MiB; a value below {@link
   * #bufferSize}, such as 0, means never borrow (every read is at most {@value ReadBuffers#SMALL}
   * bytes).
   */
  public TcpProxyBuilder bufferMemory(long bytes) {
    if (bytes < 0) {
      throw new IllegalArgumentException("bufferMemory: " + bytes + " (expected: >= 0 bytes)");
    }
    this.bufferMemory = bytes;
    return this;
  }

  /**
   * How many free buffers of {@link #bufferSize} the proxy keeps for reuse; default 256. Each
   * larger size keeps as many bytes in fewer buffers (at least one), so by default up to 16 MiB per
   * size, 48 MiB in all, stay allocated after bursts.
   */
  public TcpProxyBuilder bufferPoolSize(int buffers) {
    if (buffers < 0) {
      throw new IllegalArgumentException("bufferPoolSize: " + buffers + " (expected: >= 0)");
    }
    this.bufferPoolSize = Math.max(1, buffers);
    return this;
  }

  /**
   * The accept backlog: how many connections the OS queues, handshake done, before the proxy
   * accepts them; default 1024. The kernel caps it at {@code net.core.somaxconn} on Linux (4096 on
   * recent kernels, 128 on old ones) without telling: a larger value is effectively that. A
   * connection that finds the queue full waits for its SYN to be retried (about a second), so a
   * burst of connects larger than the backlog is answered more slowly, not refused. The acceptor
   * keeps up with bursts of thousands (a connection costs it an accept and a virtual thread), so
   * the queue rarely fills.
   */
  public TcpProxyBuilder acceptBacklog(int backlog) {
    if (backlog < 1) {
      throw new IllegalArgumentException("acceptBacklog: " + backlog + " (expected: >= 1)");
    }
    this.backlog = backlog;
    return this;
  }

  /**
   * Requires every connection to begin with a PROXY protocol header, v1 or v2 (HAProxy's {@code
   * send-proxy} / {@code send-proxy-v2}, or a meshlet in front with {@link #proxyProtocolOut}): its
   * source address is the client's, for the journal, {@link Balancer#consistentHash()} and the
   * header sent on with {@code proxyProtocolOut}. As the protocol's spec says, a connection without
   * a valid header is closed, nothing forwarded, and counted in {@link
   * TcpProxyStats#proxyHeaderRejected()}; so is one whose header is not whole within {@link
   * #handshakeTimeout} or is over 4 KiB. A v2 LOCAL header (a front's health check) keeps the
   * connection's own address. Off by default.
   *
   * @param trustedFronts the addresses or blocks ({@code 10.0.0.0/8}, {@code 2001:db8::/32}, {@code
   *     192.0.2.7}) the fronts connect from: a connection from any other address is closed and
   *     counted too. None given: any address may send the header, so the port must be reachable
   *     from the fronts only.
   * @throws IllegalArgumentException naming a block that does not parse
   */
  public TcpProxyBuilder proxyProtocolIn(String... trustedFronts) {
    List<Cidr> parsed = new ArrayList<>();
    for (String f : trustedFronts) {
      parsed.add(Cidr.parse("proxyProtocolIn", Objects.requireNonNull(f, "trustedFront")));
    }
    this.proxyProtocolIn = true;
    this.trustedFronts.clear();
    this.trustedFronts.addAll(parsed);
    return this;
  }

  /**
   * Sends each backend a PROXY protocol header of {@code version} before the client's first byte,
   * so the backend (HAProxy with {@code accept-proxy}, nginx with {@code proxy_protocol}, a meshlet
   * with {@code proxyProtocolIn}) sees the client's address and the address it connected to: the
   * socket's, or what a PROXY header received said. Off by default.
   */
  public TcpProxyBuilder proxyProtocolOut(ProxyProtocol version) {
    this.proxyProtocolOut = Objects.requireNonNull(version, "version");
    return this;
  }

  /**
   * Routes TLS passthrough by server name: the proxy reads the client's ClientHello without
   * terminating TLS and sends a connection whose SNI name matches {@code serverName} to {@code
   * cluster}, replaying the hello and then splicing the untouched stream (the backend terminates
   * TLS and sees the client's own hello). {@code serverName} is a host name or {@code
   * *.example.com} (any name ending in {@code .example.com}); routes are tried in the order added,
   * the first match wins; a name no route matches goes to the default cluster ({@link #backends} or
   * {@link #cluster}). A connection whose first byte is not TLS, or whose hello has no name, goes
   * to the default cluster too, unless {@link #closeWithoutServerName(boolean)}. The hello must be
   * whole within {@link #handshakeTimeout} and {@link #maxHelloSize}; each outcome is counted in
   * {@link TcpProxyStats#hellos()}. The cluster is the caller's: the proxy does not close it.
   *
   * <pre>{@code
   * TcpProxy.builder().listen(443)
   *     .sniRoute("api.example.com", api)
   *     .sniRoute("*.internal.example.com", internal)
   *     .cluster(fallback)
   *     .start();
   * }</pre>
   *
   * @throws IllegalArgumentException if {@code serverName} is neither a host name nor {@code
   *     *.suffix}
   */
  public TcpProxyBuilder sniRoute(String serverName, Cluster cluster) {
    Objects.requireNonNull(serverName, "serverName");
    Objects.requireNonNull(cluster, "cluster");
    sniRoutes.add(SniRoutes.Route.of(serverName, cluster));
    return this;
  }

  /**
   * With {@link #sniRoute}s, closes a connection whose first byte is not a TLS record or whose
   * ClientHello names no server, instead of sending it to the default cluster; default false.
   * Without routes it makes a port for TLS with a server name only, every name to the default
   * cluster.
   */
  public TcpProxyBuilder closeWithoutServerName(boolean close) {
    this.closeWithoutServerName = close;
    return this;
  }

  /**
   * How long a client has, from accept, for what the proxy does before it dials a backend: send the
   * PROXY header ({@link #proxyProtocolIn}), the ClientHello ({@link #sniRoute}) and its side of
   * the TLS handshake ({@link #tls}); default 5 s. A connection not done by then is closed and
   * counted (a quarter of the timeout late at most); the acceptor never waits for it. A backend's
   * TLS handshake waits at most this long for each read.
   */
  public TcpProxyBuilder handshakeTimeout(Duration timeout) {
    this.handshakeTimeout = Checks.positive("handshakeTimeout", timeout);
    return this;
  }

  /**
   * The largest ClientHello {@link #sniRoute} routing reads; default 16 KiB, between 512 bytes and
   * 64 KiB. A larger one closes the connection, counted in {@link TcpProxyStats.Hellos#tooLarge()}.
   */
  public TcpProxyBuilder maxHelloSize(int bytes) {
    if (bytes < 512 || bytes > 64 * 1024) {
      throw new IllegalArgumentException(
          "maxHelloSize: " + bytes + " (expected: 512 to 65536 bytes)");
    }
    this.maxHelloSize = bytes;
    return this;
  }

  /**
   * Terminates TLS: clients handshake with the proxy, which forwards their decrypted bytes to the
   * backends (a plaintext service, such as a database, behind a TLS port). Certificates, SNI
   * choice, client certificates and protocols are as {@code tls} says, the same as for {@code
   * HttpProxy}. The handshake runs on the connection's own thread and must be done within {@link
   * #handshakeTimeout}; a failed or late one closes the connection, counted in {@link
   * TcpProxyStats#tlsHandshakeFailures()} and journaled with why. With {@link #sniRoute}s the
   * ClientHello is read first, for routing, then given to TLS. To speak TLS to the backends, give
   * their cluster a {@link dev.meshlet.core.Cluster.Builder#tls ClientTls}. Off by default.
   */
  public TcpProxyBuilder tls(ServerTls tls) {
    this.tls = Objects.requireNonNull(tls, "tls");
    return this;
  }

  /** The connection's opening, as set. */
  Opening opening() {
    return new Opening(
        proxyProtocolIn,
        trustedFronts,
        proxyProtocolOut,
        sniRoutes.isEmpty() && !closeWithoutServerName
            ? null
            : new SniRoutes(sniRoutes, closeWithoutServerName),
        tls != null,
        handshakeTimeout.toNanos(),
        maxHelloSize);
  }

  /**
   * Validates the settings, binds the port and starts accepting.
   *
   * @throws IllegalStateException if the settings do not make a proxy (no port, no backends, …)
   * @throws BindException naming the address, if it cannot be bound (in use, or not an address of
   *     this machine)
   * @throws IOException if the port cannot be opened for another reason
   */
  public TcpProxy start() throws IOException {
    boolean owns = cluster == null;
    if (port < 0) {
      throw new IllegalStateException(
          "no listen port: call listen(port), e.g. listen(0) for any free port");
    }
    Cluster c = cluster;
    if (c != null && !backends.isEmpty()) {
      throw new IllegalStateException("both cluster(...) and backends(...) given: use one");
    }
    if (c != null && balancer != null) {
      throw new IllegalStateException(
          "balancer(...) applies to backends(...); cluster "
              + c.name()
              + " brings its own balancer");
    }
    Integer max = maxBufferSize;
    if (max != null && max < bufferSize) {
      throw new IllegalStateException(
          "maxBufferSize "
              + max
              + " is smaller than bufferSize "
              + bufferSize
              + ": raise maxBufferSize or lower bufferSize");
    }
    if (c == null) {
      if (backends.isEmpty()) {
        throw new IllegalStateException("no backends: call backends(...) or cluster(...)");
      }
      c =
          Cluster.builder("l4-" + (port == 0 ? "ephemeral" : port))
              .backends(backends)
              .balancer(balancer != null ? balancer : Balancer.roundRobin())
              .build();
    }
    ServerSocketChannel server = Listener.listen(host, port, backlog);
    TcpProxy proxy;
    try {
      proxy = new TcpProxy(this, c, owns, server);
    } catch (IOException
        | RuntimeException e) { // the port must not stay bound by a proxy never returned
      server.close();
      throw e;
    }
    proxy.begin();
    return proxy;
  }
}
