package dev.meshlet.core;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import org.jspecify.annotations.Nullable;

/**
 * A cluster's backends from DNS, re-resolved as the records' TTLs say: every address of a name
 * ({@link #hosts}, A and AAAA records, as Envoy's {@code STRICT_DNS} clusters) or every target of
 * an SRV name ({@link #srv}, the lowest priority's targets, each with the record's port and
 * weight).
 *
 * <pre>{@code
 * Cluster api = Cluster.builder("api")
 *     .discovery(DnsDiscovery.hosts("api.internal", 8080).build())
 *     .build();
 * }</pre>
 *
 * <p>The next lookup is due when the answer's smallest TTL has passed, but never sooner than {@link
 * Builder#minRefresh} (default 5 s) nor later than {@link Builder#maxRefresh} (default 5 min). A
 * lookup that fails (no answer within the timeout, an error from the server, a malformed answer, or
 * no record at all) changes nothing: the last backends found stay, the failure is counted and
 * logged once until a lookup succeeds again, and lookups are retried from the minimum refresh,
 * doubling up to the maximum. An empty answer is treated as a failure, not as "no backends": a name
 * that vanished for a moment must not empty a pool.
 *
 * <p>The queries go to one DNS server (by default the first {@code nameserver} of {@code
 * /etc/resolv.conf}) over UDP, and over TCP when an answer is truncated; the JDK's resolver is not
 * used because it hides TTLs. {@link #start} makes the first lookup before it returns (bounded by
 * twice the timeout), so a cluster built with DNS discovery has its backends when built, unless
 * that lookup failed; later lookups run on one virtual thread.
 */
public final class DnsDiscovery implements Discovery {
  private static final System.Logger LOG = System.getLogger(DnsDiscovery.class.getName());

  /** Which address records of a name become backends. */
  public enum Family {
    /** A records; AAAA records only when the name has no A record (Envoy's default). */
    V4_PREFERRED,
    /** A records only. */
    V4_ONLY,
    /** AAAA records only. */
    V6_ONLY,
    /** A and AAAA records. */
    ALL
  }

  /**
   * The discovery's counters.
   *
   * @param lookups lookups made, successful or not
   * @param failures lookups that changed nothing because they failed
   * @param changes lookups whose answer changed the cluster's backends
   * @param backends the backends of the last successful lookup
   * @param lastError why the last failed lookup failed, or null when none has
   */
  public record Stats(
      long lookups, long failures, long changes, int backends, @Nullable String lastError) {}

  private final String name;
  private final int port;
  private final boolean srv;
  private final Family family;
  private final Duration minRefresh;
  private final Duration maxRefresh;
  private final DnsClient client;
  private final InetSocketAddress server;

  private final LongAdder lookups = new LongAdder();
  private final LongAdder failures = new LongAdder();
  private final LongAdder changes = new LongAdder();
  private volatile int backends;
  private volatile @Nullable String lastError;

  private final ReentrantLock lock = new ReentrantLock();
  private final Condition closing = lock.newCondition();
  private boolean closed; // guarded by lock
  private @Nullable Thread thread; // guarded by lock
  private @Nullable Sink sink; // guarded by lock
  private volatile boolean failing; // written by one thread at a time: start(), then the loop

  private DnsDiscovery(Builder b, InetSocketAddress server) {
    this.name = b.name;
    this.port = b.port;
    this.srv = b.srv;
    this.family = b.family;
    this.minRefresh = b.minRefresh;
    this.maxRefresh = b.maxRefresh;
    this.server = server;
    this.client = new DnsClient(server, b.timeout);
  }

  /**
   * Every address of {@code name} (see {@link Builder#family}) as a backend on {@code port}.
   *
   * @throws IllegalArgumentException when {@code name} is no DNS name or {@code port} is not 1 to
   *     65535
   */
  public static Builder hosts(String name, int port) {
    if (port < 1 || port > 65535) {
      throw new IllegalArgumentException("port: " + port + " (expected: 1 to 65535)");
    }
    return new Builder(name, port, false);
  }

  /**
   * Every target of the SRV records of {@code name} (e.g. {@code _http._tcp.api.internal}) with the
   * lowest priority: each target's addresses, on the record's port, weighted by the record's weight
   * (a weight of 0 counts as 1).
   *
   * @throws IllegalArgumentException when {@code name} is no DNS name
   */
  public static Builder srv(String name) {
    return new Builder(name, 0, true);
  }

  /** Options of a {@link DnsDiscovery}; immutable values, checked as they are set. */
  public static final class Builder {
    private final String name;
    private final int port;
    private final boolean srv;
    private Family family = Family.V4_PREFERRED;
    private Duration minRefresh = Duration.ofSeconds(5);
    private Duration maxRefresh = Duration.ofMinutes(5);
    private Duration timeout = Duration.ofSeconds(2);
    private @Nullable InetSocketAddress server;

    private Builder(String name, int port, boolean srv) {
      DnsClient.labels(Objects.requireNonNull(name, "name"));
      this.name = name;
      this.port = port;
      this.srv = srv;
    }

    /** Which address records become backends; default {@link Family#V4_PREFERRED}. */
    public Builder family(Family family) {
      this.family = Objects.requireNonNull(family, "family");
      return this;
    }

    /** The soonest a lookup follows the last; default 5 s, at least 10 ms. */
    public Builder minRefresh(Duration min) {
      this.minRefresh = atLeast("minRefresh", min, Duration.ofMillis(10));
      return this;
    }

    /** The latest a lookup follows the last, whatever the TTL; default 5 min. */
    public Builder maxRefresh(Duration max) {
      this.maxRefresh = atLeast("maxRefresh", max, Duration.ofMillis(10));
      return this;
    }

    /** How long each query waits for its answer (a lost datagram is asked once more); 2 s. */
    public Builder timeout(Duration timeout) {
      this.timeout = atLeast("timeout", timeout, Duration.ofMillis(1));
      return this;
    }

    /** The DNS server to ask; default the first {@code nameserver} of {@code /etc/resolv.conf}. */
    public Builder server(InetSocketAddress server) {
      Objects.requireNonNull(server, "server");
      if (server.isUnresolved()) {
        throw new IllegalArgumentException("server: " + server + " (expected: an IP address)");
      }
      this.server = server;
      return this;
    }

    /**
     * The discovery, not yet started.
     *
     * @throws IllegalArgumentException when the minimum refresh exceeds the maximum
     * @throws IllegalStateException when no server was set and {@code /etc/resolv.conf} names none
     */
    public DnsDiscovery build() {
      if (minRefresh.compareTo(maxRefresh) > 0) {
        throw new IllegalArgumentException(
            "minRefresh: " + minRefresh + " (expected: at most maxRefresh, " + maxRefresh + ")");
      }
      InetSocketAddress s = server;
      return new DnsDiscovery(this, s != null ? s : systemServer(Path.of("/etc/resolv.conf")));
    }

    private static Duration atLeast(String what, Duration d, Duration min) {
      Objects.requireNonNull(d, what);
      if (d.compareTo(min) < 0) {
        throw new IllegalArgumentException(what + ": " + d + " (expected: at least " + min + ")");
      }
      return d;
    }
  }

  /** The first {@code nameserver} line of {@code resolvConf}, on port 53. */
  static InetSocketAddress systemServer(Path resolvConf) {
    try {
      for (String line : Files.readAllLines(resolvConf, StandardCharsets.UTF_8)) {
        String[] f = line.trim().split("\\s+");
        if (f.length >= 2 && f[0].equals("nameserver")) {
          String host = f[1].contains("%") ? f[1].substring(0, f[1].indexOf('%')) : f[1];
          if (!host.isEmpty() && (Character.digit(host.charAt(0), 16) >= 0 || host.contains(":"))) {
            return new InetSocketAddress(InetAddress.getByName(host), 53); // a literal: no lookup
          }
        }
      }
    } catch (IOException | IllegalArgumentException e) {
      throw new IllegalStateException(
          "no DNS server: reading " + resolvConf + " failed (" + e + "); set one with server()", e);
    }
    throw new IllegalStateException(
        "no DNS server: " + resolvConf + " names none; set one with server()");
  }

  /** The counters, read now. */
  public Stats stats() {
    return new Stats(lookups.sum(), failures.sum(), changes.sum(), backends, lastError);
  }

  /**
   * Makes the first lookup, then starts the virtual thread that repeats it.
   *
   * @throws IllegalStateException when started twice or after {@link #close()}
   */
  @Override
  public void start(Sink sink) {
    Objects.requireNonNull(sink, "sink");
    lock.lock();
    try {
      if (closed || this.sink != null) {
        throw new IllegalStateException("DNS discovery of " + name + " started already or closed");
      }
      this.sink = sink;
    } finally {
      lock.unlock();
    }
    long wait = lookupOnce(sink, minRefresh.toNanos());
    Thread t =
        Thread.ofVirtual()
            .name("meshlet-dns-" + sink.clusterName())
            .unstarted(() -> loop(sink, wait));
    lock.lock();
    try {
      if (closed) {
        return;
      }
      thread = t;
      t.start();
    } finally {
      lock.unlock();
    }
  }

  @Override
  public void close() {
    Thread t;
    lock.lock();
    try {
      closed = true;
      closing.signalAll();
      t = thread;
    } finally {
      lock.unlock();
    }
    if (t != null) {
      try {
        t.join(2_000);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
  }

  private void loop(Sink sink, long firstWait) {
    long wait = firstWait;
    long backoff = minRefresh.toNanos();
    while (pause(wait)) {
      wait = lookupOnce(sink, backoff);
      backoff = failing ? Math.min(2 * backoff, maxRefresh.toNanos()) : minRefresh.toNanos();
    }
  }

  /** Waits {@code nanos} or until closed; false once closed. */
  private boolean pause(long nanos) {
    lock.lock();
    try {
      long left = nanos;
      while (!closed && left > 0) {
        left = closing.awaitNanos(left); // a schedule, woken early only by close()
      }
      return !closed;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return false;
    } finally {
      lock.unlock();
    }
  }

  /** One lookup and its update; returns the wait until the next (on failure, {@code backoff}). */
  private long lookupOnce(Sink sink, long backoff) {
    lookups.increment();
    try {
      Answer a = srv ? lookupSrv() : lookupHosts(name, port, 1);
      if (a.backends.isEmpty()) {
        throw new DnsClient.DnsException("no " + (srv ? "SRV" : "address") + " record");
      }
      if (sink.update(a.backends)) {
        changes.increment();
        LOG.log(
            System.Logger.Level.INFO,
            () ->
                "meshlet cluster "
                    + sink.clusterName()
                    + ": DNS "
                    + name
                    + " now gives "
                    + a.backends.size()
                    + " backends");
      }
      backends = a.backends.size();
      if (failing) {
        failing = false;
        LOG.log(
            System.Logger.Level.INFO,
            () -> "meshlet cluster " + sink.clusterName() + ": DNS " + name + " answers again");
      }
      return clamp(TimeUnit.SECONDS.toNanos(a.ttlSeconds));
    } catch (IOException | RuntimeException e) {
      failures.increment();
      String why = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
      lastError = why;
      if (!failing) {
        failing = true;
        LOG.log(
            System.Logger.Level.WARNING,
            () ->
                "meshlet cluster "
                    + sink.clusterName()
                    + ": DNS lookup of "
                    + name
                    + " at "
                    + server
                    + " failed ("
                    + why
                    + "); keeping the last backends found, retrying");
      }
      return backoff;
    }
  }

  private long clamp(long ttlNanos) {
    return Math.max(minRefresh.toNanos(), Math.min(maxRefresh.toNanos(), ttlNanos));
  }

  /** Backends found and the smallest TTL among the records they came from. */
  private record Answer(List<Backend> backends, long ttlSeconds) {}

  private Answer lookupHosts(String host, int onPort, int weight) throws IOException {
    List<DnsClient.Rr> records = new ArrayList<>();
    if (family != Family.V6_ONLY) {
      records.addAll(client.query(host, DnsClient.A));
    }
    if (family == Family.V6_ONLY
        || family == Family.ALL
        || family == Family.V4_PREFERRED && records.isEmpty()) {
      records.addAll(client.query(host, DnsClient.AAAA));
    }
    Map<String, Backend> found = new LinkedHashMap<>();
    long ttl = Long.MAX_VALUE;
    for (DnsClient.Rr r : records) {
      InetAddress address = Objects.requireNonNull(r.address());
      String literal = address.getHostAddress();
      found.putIfAbsent(literal, new Backend(literal, onPort, null, weight));
      ttl = Math.min(ttl, r.ttlSeconds());
    }
    return new Answer(List.copyOf(found.values()), ttl == Long.MAX_VALUE ? 0 : ttl);
  }

  private Answer lookupSrv() throws IOException {
    List<DnsClient.Rr> records = client.query(name, DnsClient.SRV);
    int best = Integer.MAX_VALUE;
    for (DnsClient.Rr r : records) {
      if (!r.target().isEmpty()) { // "." says the service is not offered at all
        best = Math.min(best, r.priority());
      }
    }
    Map<String, Backend> found = new LinkedHashMap<>();
    long ttl = Long.MAX_VALUE;
    for (DnsClient.Rr r : records) {
      if (r.priority() != best || r.target().isEmpty() || r.port() == 0) {
        continue;
      }
      int weight = Math.max(1, Math.min(Backend.MAX_WEIGHT, r.weight()));
      Answer targets = lookupHosts(r.target(), r.port(), weight);
      for (Backend b : targets.backends) {
        found.putIfAbsent(b.authority(), b);
      }
      ttl = Math.min(ttl, Math.min(r.ttlSeconds(), targets.ttlSeconds));
    }
    return new Answer(List.copyOf(found.values()), ttl == Long.MAX_VALUE ? 0 : ttl);
  }

  @Override
  public String toString() {
    return "DnsDiscovery[" + (srv ? "SRV " + name : name + ":" + port) + " at " + server + "]";
  }
}
