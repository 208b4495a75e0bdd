package dev.meshlet.l7;

import dev.meshlet.core.Cluster;
import dev.meshlet.core.ServerTls;
import dev.meshlet.core.internal.Checks;
import dev.meshlet.l4.ProxyProtocol;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;
import java.util.function.Consumer;
import org.jspecify.annotations.Nullable;

/**
 * The settings an {@link HttpProxyBuilder} collects, each checked as it is set (the builder's
 * javadoc gives the defaults and limits); {@link #build()} checks them together and makes the
 * immutable {@link ProxyConfig}.
 */
final class ProxySettings {
  private String host = "0.0.0.0";
  private int port = -1;
  private final List<HttpRoute> routes = new ArrayList<>();
  private @Nullable Cluster defaultCluster;
  private Duration responseTimeout = Duration.ofSeconds(15);
  private Duration connectTimeout = Duration.ofSeconds(5);
  private Duration drainTimeout = Duration.ofSeconds(5);
  private Duration requestHeadTimeout = Duration.ofSeconds(10);
  private Duration idleTimeout = Duration.ofSeconds(60);
  private Duration upstreamIdleTimeout = Duration.ofSeconds(15);
  private int maxConnectionsPerBackend = 64;
  private int maxThreads = 200;
  private int selectorThreads; // 0: half the CPUs, 1 to 4
  private @Nullable AccessLog accessLog;
  private boolean generateTraceparent;
  private boolean latencyHistograms = true;
  private final HeaderOps.Collector requestHeaders = new HeaderOps.Collector("request");
  private final HeaderOps.Collector responseHeaders = new HeaderOps.Collector("response");
  private final List<String> trustedProxies = new ArrayList<>();
  private boolean dropClientForwardedFor;
  private String via = "meshlet";
  private int maxRequestHeaderSize = 8192;
  private int maxUriLength = 8192;
  private boolean rejectUnderscoreHeaders;
  private int maxConnections = 10_000;
  private @Nullable Long seed;
  private int journalCapacity = 10_000;
  private @Nullable HeaderCapture journalHeaders;
  private RetryPolicy retryPolicy = RetryPolicy.none();
  private Duration requestTimeout = Duration.ZERO;
  private Duration requestBodyTimeout = Duration.ofSeconds(60);
  private int maxPendingRequestsPerBackend = 1024;
  private Duration keepAliveTimeout = Duration.ofSeconds(60);
  private int acceptBacklog = 1024;
  private int requestBufferSize = 64 * 1024;
  private long requestBufferBudget = 64L * 1024 * 1024;
  private @Nullable ServerTls tls;
  private boolean watchTlsFiles = true;
  private boolean forwardClientCert;
  private boolean h2c;
  private boolean h2 = true;
  private Http2Limits http2 = Http2Limits.defaults();
  private final Map<String, UpstreamProtocol> upstreamProtocols = new HashMap<>();

  void h2c(boolean on) {
    this.h2c = on;
  }

  void h2(boolean on) {
    this.h2 = on;
  }

  void http2(Http2Limits limits) {
    this.http2 = Objects.requireNonNull(limits, "http2");
  }

  void upstreamProtocol(Cluster cluster, UpstreamProtocol protocol) {
    Objects.requireNonNull(cluster, "cluster");
    Objects.requireNonNull(protocol, "protocol");
    if (protocol == UpstreamProtocol.H2C && cluster.tls() != null) {
      throw new IllegalArgumentException(
          "upstreamProtocol: cluster '"
              + cluster.name()
              + "' has TLS (expected: UpstreamProtocol.H2 for HTTP/2 over TLS)");
    }
    upstreamProtocols.put(cluster.name(), protocol);
  }

  void tls(ServerTls tls) {
    this.tls = Objects.requireNonNull(tls, "tls");
  }

  void watchTlsFiles(boolean on) {
    this.watchTlsFiles = on;
  }

  void forwardClientCert(boolean on) {
    this.forwardClientCert = on;
  }

  private boolean proxyProtocolIn;
  private final List<ProxyConfig.Cidr> proxyFronts = new ArrayList<>();
  private @Nullable ProxyProtocol proxyProtocolOut;
  private @Nullable ResponseCompression compression;

  void proxyProtocolIn(String... trustedFronts) {
    List<ProxyConfig.Cidr> parsed = new ArrayList<>();
    for (String f : trustedFronts) {
      try {
        parsed.add(ProxyConfig.Cidr.parse(Objects.requireNonNull(f, "trustedFront")));
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException(
            "proxyProtocolIn: '"
                + f
                + "' (expected: an IP address or block, e.g. 10.0.0.0/8, 192.0.2.7, 2001:db8::/32)",
            e);
      }
    }
    this.proxyProtocolIn = true;
    proxyFronts.clear();
    proxyFronts.addAll(parsed);
  }

  void compression(ResponseCompression c) {
    this.compression = Objects.requireNonNull(c, "compression");
  }

  void proxyProtocolOut(ProxyProtocol version) {
    this.proxyProtocolOut = Objects.requireNonNull(version, "version");
  }

  void retryPolicy(RetryPolicy policy) {
    this.retryPolicy = Objects.requireNonNull(policy, "policy");
  }

  void requestTimeout(Duration d) {
    Objects.requireNonNull(d, "requestTimeout");
    if (d.isNegative()) {
      throw new IllegalArgumentException("requestTimeout: " + d + " (expected: >= 0, 0 for none)");
    }
    this.requestTimeout = d;
  }

  void requestBodyTimeout(Duration d) {
    Objects.requireNonNull(d, "requestBodyTimeout");
    if (d.isNegative()) {
      throw new IllegalArgumentException(
          "requestBodyTimeout: " + d + " (expected: >= 0, 0 for none)");
    }
    this.requestBodyTimeout = d;
  }

  void requestBufferSize(int bytes) {
    if (bytes < 0) {
      throw new IllegalArgumentException(
          "requestBufferSize: " + bytes + " (expected: >= 0, 0 for none)");
    }
    this.requestBufferSize = bytes;
  }

  void requestBufferBudget(long bytes) {
    if (bytes < 0) {
      throw new IllegalArgumentException(
          "requestBufferBudget: " + bytes + " (expected: >= 0, 0 for none)");
    }
    this.requestBufferBudget = bytes;
  }

  void maxPendingRequestsPerBackend(int n) {
    if (n < 1) {
      throw new IllegalArgumentException(
          "maxPendingRequestsPerBackend: " + n + " (expected: >= 1)");
    }
    this.maxPendingRequestsPerBackend = n;
  }

  void seed(long seed) {
    this.seed = seed;
  }

  void journalCapacity(int entries) {
    if (entries < 0) {
      throw new IllegalArgumentException("journalCapacity: " + entries + " (expected: >= 0)");
    }
    this.journalCapacity = entries;
  }

  void listen(String host, int port) {
    Objects.requireNonNull(host, "host");
    if (host.isBlank()) {
      throw new IllegalArgumentException(
          "listen host: blank (expected: e.g. 127.0.0.1 or 0.0.0.0)");
    }
    if (port < 0 || port > 65535) {
      throw new IllegalArgumentException(
          "listen port: " + port + " (expected: 0-65535, 0 for any free port)");
    }
    this.host = host.strip();
    this.port = port;
  }

  void route(Consumer<HttpRouteBuilder> spec) {
    Objects.requireNonNull(spec, "spec");
    routes.add(HttpRoute.build(spec, "route-" + (routes.size() + 1)));
  }

  void defaultRoute(Cluster cluster) {
    this.defaultCluster = Objects.requireNonNull(cluster, "cluster");
  }

  void responseTimeout(Duration d) {
    responseTimeout = Checks.positive("responseTimeout", d);
  }

  void connectTimeout(Duration d) {
    connectTimeout = Checks.positive("connectTimeout", d);
  }

  void drainTimeout(Duration d) {
    drainTimeout = Checks.notNegative("drainTimeout", d);
  }

  void requestHeadTimeout(Duration d) {
    Objects.requireNonNull(d, "requestHeadTimeout");
    if (d.isNegative()) {
      throw new IllegalArgumentException(
          "requestHeadTimeout: " + d + " (expected: >= 0, 0 for none)");
    }
    requestHeadTimeout = d;
  }

  void keepAliveTimeout(Duration d) {
    Objects.requireNonNull(d, "keepAliveTimeout");
    if (d.isNegative()) {
      throw new IllegalArgumentException(
          "keepAliveTimeout: " + d + " (expected: >= 0, 0 for none)");
    }
    keepAliveTimeout = d;
  }

  void acceptBacklog(int n) {
    if (n < 1) {
      throw new IllegalArgumentException("acceptBacklog: " + n + " (expected: >= 1)");
    }
    acceptBacklog = n;
  }

  void idleTimeout(Duration d) {
    idleTimeout = Checks.positive("idleTimeout", d);
  }

  void upstreamIdleTimeout(Duration d) {
    upstreamIdleTimeout = Checks.positive("upstreamIdleTimeout", d);
  }

  void maxConnectionsPerBackend(int n) {
    if (n < 1) {
      throw new IllegalArgumentException("maxConnectionsPerBackend: " + n + " (expected: >= 1)");
    }
    maxConnectionsPerBackend = n;
  }

  void maxThreads(int n) {
    if (n < 8) {
      throw new IllegalArgumentException("maxThreads: " + n + " (expected: >= 8)");
    }
    maxThreads = n;
  }

  void selectorThreads(int n) {
    if (n < 1 || n > 64) {
      throw new IllegalArgumentException("selectorThreads: " + n + " (expected: 1-64)");
    }
    selectorThreads = n;
  }

  void journalHeaders(HeaderCapture capture) {
    journalHeaders = Objects.requireNonNull(capture, "capture");
  }

  void accessLog(@Nullable AccessLog log) {
    accessLog = log;
  }

  void latencyHistograms(boolean on) {
    latencyHistograms = on;
  }

  void generateTraceparent(boolean on) {
    generateTraceparent = on;
  }

  void addRequestHeader(String name, String value) {
    requestHeaders.add(HeaderOps.Kind.ADD, name, value);
  }

  void setRequestHeader(String name, String value) {
    requestHeaders.add(HeaderOps.Kind.SET, name, value);
  }

  void removeRequestHeader(String name) {
    requestHeaders.remove(name);
  }

  void addResponseHeader(String name, String value) {
    responseHeaders.add(HeaderOps.Kind.ADD, name, value);
  }

  void setResponseHeader(String name, String value) {
    responseHeaders.add(HeaderOps.Kind.SET, name, value);
  }

  void removeResponseHeader(String name) {
    responseHeaders.remove(name);
  }

  void trustedProxies(String... addressesOrBlocks) {
    for (String a : addressesOrBlocks) {
      ProxyConfig.Cidr.parse(Objects.requireNonNull(a, "trusted proxy"));
      trustedProxies.add(a);
    }
  }

  void dropClientForwardedFor(boolean on) {
    dropClientForwardedFor = on;
  }

  void via(String pseudonym) {
    Objects.requireNonNull(pseudonym, "pseudonym");
    if (pseudonym.isEmpty() || !pseudonym.chars().allMatch(c -> Rfc.isTokenChar((char) c))) {
      throw new IllegalArgumentException(
          "via '" + pseudonym + "': expected a token such as meshlet");
    }
    via = pseudonym;
  }

  void maxRequestHeaderSize(int bytes) {
    if (bytes < 256 || bytes > 1 << 20) {
      throw new IllegalArgumentException(
          "maxRequestHeaderSize: " + bytes + " (expected: 256-1048576)");
    }
    maxRequestHeaderSize = bytes;
  }

  void maxUriLength(int chars) {
    if (chars < 16) {
      throw new IllegalArgumentException("maxUriLength: " + chars + " (expected: >= 16)");
    }
    maxUriLength = chars;
  }

  void rejectUnderscoreHeaders(boolean reject) {
    rejectUnderscoreHeaders = reject;
  }

  void maxConnections(int n) {
    if (n < 1) {
      throw new IllegalArgumentException("maxConnections: " + n + " (expected: >= 1)");
    }
    maxConnections = n;
  }

  /**
   * The settings as a {@link ProxyConfig}.
   *
   * @throws IllegalStateException when no listen port or no route is set
   * @throws IllegalArgumentException when a route is incomplete, names repeat or the listen host is
   *     unknown
   */
  ProxyConfig build() {
    if (port < 0) {
      throw new IllegalStateException(
          "no listen port (expected: .listen(port), 0 for any free port)");
    }
    if (routes.isEmpty() && defaultCluster == null) {
      throw new IllegalStateException(
          "no routes (expected: at least one .route(...) or .defaultRoute(cluster))");
    }
    checkRoutes(routes, defaultCluster);
    for (HttpRoute r : routes) {
      if (r.readsPeer() && (tls == null || tls.clientAuth() == ServerTls.ClientAuth.NONE)) {
        throw new IllegalStateException(
            "route '"
                + r.name()
                + "': peer(...)/allowPeers(...) need client certificates (expected: .tls(ServerTls"
                + " with clientAuth REQUEST or REQUIRE))");
      }
    }
    try {
      InetAddress.getByName(host); // as TcpProxy: an unknown listen host is a configuration error
    } catch (UnknownHostException e) {
      throw new IllegalArgumentException("listen host '" + host + "': unknown host", e);
    }
    List<ProxyConfig.Cidr> trusted = new ArrayList<>();
    for (String t : trustedProxies) {
      trusted.add(ProxyConfig.Cidr.parse(t));
    }
    return new ProxyConfig(
        host,
        port,
        routes,
        defaultCluster == null ? null : HttpRoute.catchAll(defaultCluster),
        responseTimeout,
        connectTimeout,
        drainTimeout,
        requestHeadTimeout,
        idleTimeout,
        upstreamIdleTimeout,
        maxConnectionsPerBackend,
        maxThreads,
        accessLog,
        requestHeaders.build(),
        responseHeaders.build(),
        trusted,
        dropClientForwardedFor,
        via,
        maxRequestHeaderSize,
        maxUriLength,
        rejectUnderscoreHeaders,
        maxConnections,
        selectors(),
        seed != null ? seed : ThreadLocalRandom.current().nextLong(),
        journalCapacity,
        retryPolicy,
        requestTimeout,
        maxPendingRequestsPerBackend,
        keepAliveTimeout,
        acceptBacklog,
        requestBodyTimeout,
        requestBufferSize,
        requestBufferBudget,
        journalHeaders,
        generateTraceparent,
        tls,
        watchTlsFiles,
        forwardClientCert,
        proxyProtocolIn,
        proxyFronts,
        proxyProtocolOut,
        h2c,
        h2,
        http2,
        upstreamProtocols,
        compression,
        latencyHistograms);
  }

  /** The selector threads: as set (checked against maxThreads), or half the CPUs, 1 to 4. */
  private int selectors() {
    if (selectorThreads == 0) {
      return Math.max(1, Math.min(4, Runtime.getRuntime().availableProcessors() / 2));
    }
    if (selectorThreads + 4 > maxThreads) {
      throw new IllegalArgumentException(
          "selectorThreads ("
              + selectorThreads
              + ") + 4 exceeds maxThreads ("
              + maxThreads
              + "): the pool also runs the acceptor and the requests");
    }
    return selectorThreads;
  }

  /** Checks a routing table: at least one route, names unique. */
  static void checkRoutes(List<HttpRoute> routes, @Nullable Cluster defaultCluster) {
    if (routes.isEmpty() && defaultCluster == null) {
      throw new IllegalStateException(
          "no routes (expected: at least one .route(...) or .defaultRoute(cluster))");
    }
    Set<String> names = new HashSet<>();
    for (HttpRoute r : routes) {
      if (!names.add(r.name()) || r.name().equals("default") && defaultCluster != null) {
        throw new IllegalArgumentException(
            "route name '" + r.name() + "' used twice (expected: unique names)");
      }
    }
  }
}
