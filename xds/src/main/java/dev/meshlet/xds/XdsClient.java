package dev.meshlet.xds;

import com.google.protobuf.Struct;
import com.google.protobuf.Value;
import dev.meshlet.core.ClientTls;
import dev.meshlet.core.Cluster;
import dev.meshlet.l4.TcpProxy;
import dev.meshlet.l7.HttpProxy;
import io.envoyproxy.envoy.config.core.v3.Node;
import io.grpc.ManagedChannel;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.jspecify.annotations.Nullable;

/**
 * A client of an xDS control plane (istiod, java-control-plane, go-control-plane): it subscribes
 * over one ADS stream (state of the world, Envoy's v3 API) to listeners, routes, clusters and
 * endpoints, and runs what they describe as meshlet's {@link HttpProxy HTTP} and {@link TcpProxy
 * TCP} proxies and {@link Cluster clusters}. A listener that appears starts a proxy, one that goes
 * away is drained and closed, new routes replace a running proxy's routes in one step (requests in
 * flight finish on the old ones), new endpoints replace a cluster's backends (those that stay keep
 * their state). A response meshlet cannot apply is rejected (NACK) with the reason, and the last
 * accepted configuration stays in force. When the stream breaks the proxies keep serving and the
 * client reconnects with exponential backoff and resubscribes.
 *
 * <pre>{@code
 * try (XdsClient xds = XdsClient.builder().server("istiod.istio-system", 15010).nodeId("web-1").build()) {
 *   xds.start();
 *   ...
 *   HttpProxy ingress = xds.httpProxy("ingress"); // null until the listener is in force
 * }
 * }</pre>
 *
 * <p>gRPC to the control plane is plain text unless {@link Builder#tls} is set. The README lists
 * what maps and what is rejected.
 */
public final class XdsClient implements AutoCloseable {
  private static final AtomicInteger IDS = new AtomicInteger();

  private final String target;
  private final ManagedChannel channel;
  private final ScheduledExecutorService timer;
  private final XdsState state;
  private final AdsStream stream;
  private final AtomicInteger lifecycle = new AtomicInteger(); // 0 new, 1 started, 2 closed

  private XdsClient(Builder b) {
    this.target = b.host + ":" + b.port;
    Struct.Builder metadata = Struct.newBuilder();
    b.metadata.forEach(
        (k, v) -> metadata.putFields(k, Value.newBuilder().setStringValue(v).build()));
    Node node =
        Node.newBuilder()
            .setId(Objects.requireNonNull(b.nodeId))
            .setCluster(b.nodeCluster)
            .setMetadata(metadata)
            .setUserAgentName("meshlet")
            .build();
    NettyChannelBuilder grpc =
        b.tls == null
            ? NettyChannelBuilder.forAddress(b.host, b.port).usePlaintext()
            : NettyChannelBuilder.forAddress(b.host, b.port, ControlPlaneTls.credentials(b.tls));
    if (b.tls != null && b.tls.serverName() != null) {
      grpc.overrideAuthority(b.tls.serverName());
    }
    this.channel = grpc.build();
    int id = IDS.incrementAndGet();
    this.timer =
        Executors.newSingleThreadScheduledExecutor(
            r -> {
              Thread t = new Thread(r, "meshlet-xds-reconnect-" + id);
              t.setDaemon(true);
              return t;
            });
    this.state = new XdsState(b.drainTimeout);
    this.stream = new AdsStream(channel, node, state, timer, b.initialBackoff, b.maxBackoff);
  }

  /** A builder; {@link Builder#server} and {@link Builder#nodeId} are required. */
  public static Builder builder() {
    return new Builder();
  }

  /**
   * Opens the ADS stream and returns at once: proxies start as the control plane's responses arrive
   * (poll {@link #status()} or {@link #httpProxy(String)}). A control plane that is down is retried
   * with backoff.
   *
   * @throws IllegalStateException if started already or closed
   */
  public XdsClient start() {
    if (!lifecycle.compareAndSet(0, 1)) {
      throw new IllegalStateException(
          "start: " + (lifecycle.get() == 1 ? "started already" : "closed"));
    }
    stream.open();
    return this;
  }

  /** The stream's state, the versions in force by type URL, and the last rejection. */
  public XdsStatus status() {
    return stream.status();
  }

  /**
   * The HTTP proxy serving the listener named {@code listener}, or null when there is none in force
   * (not yet received, waiting for its routes, removed, or a TCP listener).
   */
  public @Nullable HttpProxy httpProxy(String listener) {
    return state.httpProxy(Objects.requireNonNull(listener, "listener"));
  }

  /** The TCP proxy serving the listener named {@code listener}, or null when there is none. */
  public @Nullable TcpProxy tcpProxy(String listener) {
    return state.tcpProxy(Objects.requireNonNull(listener, "listener"));
  }

  /**
   * {@link #status()} as a JSON-ready map, for the admin endpoint's {@code /config} ({@code
   * Admin.builder().configSection("xds", xds::statusView)}): {@code server}, {@code connected},
   * {@code versions} by short name ({@code LDS}, {@code RDS}, {@code CDS}, {@code EDS}) and {@code
   * versionsByTypeUrl}, {@code lastNack} ({@code reason}, {@code type}, {@code typeUrl}, {@code
   * rejectedVersion}, {@code nonce}, {@code at} as ISO-8601; null when nothing was rejected),
   * {@code acks}, {@code nacks}, {@code reconnects}. A new map on each call; it holds no resource
   * body, so no secret.
   */
  public Map<String, Object> statusView() {
    return StatusView.of(target, stream.status(), stream.lastNack());
  }

  /**
   * The HTTP proxies in force, by listener name: an unmodifiable snapshot, cheap to take. For the
   * admin endpoint: {@code Admin.builder().httpProxies(xds::httpProxies)}.
   */
  public Map<String, HttpProxy> httpProxies() {
    return state.httpProxies();
  }

  /** The TCP proxies in force, by listener name: an unmodifiable snapshot, cheap to take. */
  public Map<String, TcpProxy> tcpProxies() {
    return state.tcpProxies();
  }

  /** The clusters in force, by CDS name (an unmodifiable snapshot). */
  public Map<String, Cluster> clusters() {
    return state.clusters();
  }

  /**
   * Closes the stream, then every proxy (each drains its requests in flight for up to the drain
   * timeout) and cluster, and the channel. Idempotent.
   */
  @Override
  public void close() {
    if (lifecycle.getAndSet(2) == 2) {
      return;
    }
    stream.close();
    timer.shutdownNow();
    channel.shutdownNow();
    boolean interrupted = false;
    try {
      state.close();
    } catch (InterruptedException e) {
      interrupted = true;
    }
    try {
      channel.awaitTermination(5, TimeUnit.SECONDS);
      timer.awaitTermination(5, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      interrupted = true;
    }
    if (interrupted) {
      Thread.currentThread().interrupt();
    }
  }

  @Override
  public String toString() {
    return "XdsClient{" + target + ", " + status() + "}";
  }

  /** Collects an {@link XdsClient}'s settings; {@link #build()} checks them. */
  public static final class Builder {
    private @Nullable String host;
    private int port;
    private @Nullable String nodeId;
    private String nodeCluster = "meshlet";
    private final Map<String, String> metadata = new LinkedHashMap<>();
    private Duration initialBackoff = Duration.ofMillis(100);
    private Duration maxBackoff = Duration.ofSeconds(10);
    private Duration drainTimeout = Duration.ofSeconds(5);
    private @Nullable ClientTls tls;

    private Builder() {}

    /**
     * TLS to the control plane (mTLS with {@link ClientTls.Builder#identity}): the trust and client
     * certificate of {@code tls}; the server's certificate must name the host given to {@link
     * #server} or {@link ClientTls.Builder#serverName}. Default: plain text.
     *
     * @throws IllegalArgumentException if {@code tls} turns hostname verification off or pins
     *     peers, which gRPC's TLS does not offer
     */
    public Builder tls(ClientTls tls) {
      Objects.requireNonNull(tls, "tls");
      ControlPlaneTls.check(tls);
      this.tls = tls;
      return this;
    }

    /** The control plane's gRPC address; required. */
    public Builder server(String host, int port) {
      Objects.requireNonNull(host, "host");
      if (host.isBlank()) {
        throw new IllegalArgumentException("server host: blank (expected: a host name or address)");
      }
      if (port < 1 || port > 65535) {
        throw new IllegalArgumentException("server port: " + port + " (expected: 1-65535)");
      }
      this.host = host;
      this.port = port;
      return this;
    }

    /** The node id the control plane knows this proxy by ({@code Node.id}); required. */
    public Builder nodeId(String id) {
      this.nodeId = nonBlank("nodeId", id);
      return this;
    }

    /** The node's cluster ({@code Node.cluster}, the service it belongs to); default "meshlet". */
    public Builder nodeCluster(String cluster) {
      this.nodeCluster = nonBlank("nodeCluster", cluster);
      return this;
    }

    /** Adds a string to the node's metadata ({@code Node.metadata}), e.g. Istio's NAMESPACE. */
    public Builder metadata(String key, String value) {
      metadata.put(nonBlank("metadata key", key), Objects.requireNonNull(value, "value"));
      return this;
    }

    /**
     * The reconnect backoff: the first retry after {@code initial}, each further one doubling up to
     * {@code max}; back to {@code initial} once a response arrives. Default 100 ms, 10 s.
     */
    public Builder reconnectBackoff(Duration initial, Duration max) {
      Objects.requireNonNull(initial, "initial");
      Objects.requireNonNull(max, "max");
      if (initial.isNegative() || initial.isZero()) {
        throw new IllegalArgumentException(
            "reconnectBackoff initial: " + initial + " (expected: > 0)");
      }
      if (max.compareTo(initial) < 0) {
        throw new IllegalArgumentException(
            "reconnectBackoff max: " + max + " (expected: >= initial " + initial + ")");
      }
      this.initialBackoff = initial;
      this.maxBackoff = max;
      return this;
    }

    /**
     * How long a removed listener's proxy (and every proxy at {@link XdsClient#close()}) lets its
     * requests and connections in flight finish; default 5 s.
     */
    public Builder drainTimeout(Duration d) {
      Objects.requireNonNull(d, "drainTimeout");
      if (d.isNegative()) {
        throw new IllegalArgumentException("drainTimeout: " + d + " (expected: >= 0)");
      }
      this.drainTimeout = d;
      return this;
    }

    /**
     * Builds the client, not yet connected; {@link XdsClient#start()} connects.
     *
     * @throws IllegalStateException if the server or node id is missing
     */
    public XdsClient build() {
      if (host == null) {
        throw new IllegalStateException("server: not set (expected: .server(host, port))");
      }
      if (nodeId == null) {
        throw new IllegalStateException("nodeId: not set (expected: .nodeId(\"my-proxy\"))");
      }
      return new XdsClient(this);
    }

    private static String nonBlank(String what, String s) {
      Objects.requireNonNull(s, what);
      if (s.isBlank()) {
        throw new IllegalArgumentException(what + ": blank");
      }
      return s;
    }
  }
}
