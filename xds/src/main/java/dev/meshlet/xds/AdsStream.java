package dev.meshlet.xds;

import com.google.protobuf.Any;
import com.google.protobuf.Message;
import com.google.rpc.Code;
import com.google.rpc.Status;
import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.core.v3.Node;
import io.envoyproxy.envoy.config.endpoint.v3.ClusterLoadAssignment;
import io.envoyproxy.envoy.config.listener.v3.Listener;
import io.envoyproxy.envoy.config.route.v3.RouteConfiguration;
import io.envoyproxy.envoy.service.discovery.v3.AggregatedDiscoveryServiceGrpc;
import io.envoyproxy.envoy.service.discovery.v3.DiscoveryRequest;
import io.envoyproxy.envoy.service.discovery.v3.DiscoveryResponse;
import io.grpc.ManagedChannel;
import io.grpc.stub.StreamObserver;
import java.lang.System.Logger.Level;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.ReentrantLock;
import org.jspecify.annotations.Nullable;

/**
 * One ADS subscription over a gRPC channel, reopened with backoff when it breaks. It asks for
 * clusters first and for listeners once the first clusters are in force (so routes find their
 * clusters, as Envoy sequences it), then for the endpoints and routes those name. Every response is
 * ACKed with its version and nonce, or NACKed with the version still in force, its nonce and the
 * reason.
 */
final class AdsStream {
  private static final System.Logger LOG = System.getLogger(XdsClient.class.getName());

  private final ReentrantLock lock = new ReentrantLock();
  private final AggregatedDiscoveryServiceGrpc.AggregatedDiscoveryServiceStub stub;
  private final Node node;
  private final XdsState state;
  private final ScheduledExecutorService timer;
  private final Duration initialBackoff;
  private final Duration maxBackoff;

  // guarded by lock
  private final Map<String, String> versions = new HashMap<>();
  private final Map<String, String> nonces = new HashMap<>();
  private final Map<String, Set<String>> subscribed = new HashMap<>();
  private final Map<String, Rejection> rejections = new HashMap<>();
  private @Nullable StreamObserver<DiscoveryRequest> requests;
  private int generation;
  private boolean listenersWanted;
  private Duration backoff;
  private boolean closed;
  private boolean connected;
  private @Nullable String lastNack;
  private @Nullable Nack lastNackDetail;
  private long acks;
  private long nacks;
  private long reconnects;

  AdsStream(
      ManagedChannel channel,
      Node node,
      XdsState state,
      ScheduledExecutorService timer,
      Duration initialBackoff,
      Duration maxBackoff) {
    this.stub = AggregatedDiscoveryServiceGrpc.newStub(channel);
    this.node = node;
    this.state = state;
    this.timer = timer;
    this.initialBackoff = initialBackoff;
    this.maxBackoff = maxBackoff;
    this.backoff = initialBackoff;
  }

  XdsStatus status() {
    lock.lock();
    try {
      return new XdsStatus(connected, versions, lastNack, acks, nacks, reconnects);
    } finally {
      lock.unlock();
    }
  }

  /** The last rejection in full, or null if none. */
  @Nullable Nack lastNack() {
    lock.lock();
    try {
      return lastNackDetail;
    } finally {
      lock.unlock();
    }
  }

  void open() {
    lock.lock();
    try {
      if (closed) {
        return;
      }
      int g = ++generation;
      nonces.clear(); // nonces belong to a stream
      requests = stub.streamAggregatedResources(new Responses(g));
      connected = true;
      // a new stream tells the control plane what is in force, so it sends only what changed
      send(XdsStatus.CLUSTER, Set.of(), null);
      if (listenersWanted) {
        subscribed.remove(XdsStatus.ENDPOINT);
        subscribed.remove(XdsStatus.ROUTE);
        follow(XdsStatus.ENDPOINT, state.edsNames());
        send(XdsStatus.LISTENER, Set.of(), null);
        follow(XdsStatus.ROUTE, state.rdsNames());
      }
    } finally {
      lock.unlock();
    }
  }

  void close() {
    lock.lock();
    try {
      closed = true;
      connected = false;
      StreamObserver<DiscoveryRequest> r = requests;
      requests = null;
      if (r != null) {
        try {
          r.onCompleted();
        } catch (RuntimeException ignored) {
          // the stream is gone already
        }
      }
    } finally {
      lock.unlock();
    }
  }

  private void send(String type, Set<String> names, @Nullable String error) {
    StreamObserver<DiscoveryRequest> r = requests;
    if (r == null) {
      return;
    }
    subscribed.put(type, names);
    DiscoveryRequest.Builder b =
        DiscoveryRequest.newBuilder()
            .setNode(node)
            .setTypeUrl(type)
            .setVersionInfo(versions.getOrDefault(type, ""))
            .setResponseNonce(nonces.getOrDefault(type, ""))
            .addAllResourceNames(names);
    if (error != null) {
      b.setErrorDetail(
          Status.newBuilder().setCode(Code.INVALID_ARGUMENT.getNumber()).setMessage(error));
    }
    r.onNext(b.build());
  }

  /**
   * Resubscribes to endpoints and routes when the names in force changed. No names is not asked for
   * until something was: to a control plane an empty list means every resource.
   */
  private void follow(String type, Set<String> names) {
    Set<String> now = subscribed.get(type);
    if (names.isEmpty() && now == null) {
      return;
    }
    if (!names.equals(now)) {
      send(type, names, null);
    }
  }

  private void onResponse(int g, DiscoveryResponse response) {
    lock.lock();
    try {
      if (g != generation || closed) {
        return;
      }
      backoff = initialBackoff;
      String type = response.getTypeUrl();
      nonces.put(type, response.getNonce());
      try {
        apply(type, response.getResourcesList());
        versions.put(type, response.getVersionInfo());
        rejections.remove(type);
        acks++;
        send(type, subscribed.getOrDefault(type, Set.of()), null);
      } catch (IllegalArgumentException | IllegalStateException e) {
        String reason = e.getMessage() == null ? e.toString() : e.getMessage();
        lastNack = reason;
        lastNackDetail =
            new Nack(reason, type, response.getVersionInfo(), response.getNonce(), Instant.now());
        nacks++;
        reject(type, response, reason);
      }
      switch (type) {
        case XdsStatus.CLUSTER -> {
          follow(XdsStatus.ENDPOINT, state.edsNames());
          if (!listenersWanted) {
            listenersWanted = true;
            send(XdsStatus.LISTENER, Set.of(), null);
          }
        }
        case XdsStatus.LISTENER -> follow(XdsStatus.ROUTE, state.rdsNames());
        default -> {}
      }
    } finally {
      lock.unlock();
    }
  }

  /**
   * NACKs a response. A control plane answers a NACK by sending what it holds again, so the same
   * refused response comes back at once: that one is NACKed after a delay that doubles up to the
   * reconnect backoff's cap, and logged only the first time.
   */
  private void reject(String type, DiscoveryResponse response, String reason) {
    Rejection prev = rejections.get(type);
    int hash = response.getResourcesList().hashCode();
    if (prev == null || !prev.version().equals(response.getVersionInfo()) || prev.hash() != hash) {
      LOG.log(
          Level.WARNING,
          "xDS "
              + shortName(type)
              + " version "
              + response.getVersionInfo()
              + " rejected: "
              + reason);
      rejections.put(type, new Rejection(response.getVersionInfo(), hash, initialBackoff));
      send(type, subscribed.getOrDefault(type, Set.of()), reason);
      return;
    }
    Duration next = prev.delay().multipliedBy(2);
    rejections.put(
        type,
        new Rejection(prev.version(), hash, next.compareTo(maxBackoff) > 0 ? maxBackoff : next));
    int g = generation;
    String nonce = response.getNonce();
    var unused =
        timer.schedule(
            () -> {
              lock.lock();
              try {
                // a newer response or stream has been answered since
                if (g == generation && !closed && nonce.equals(nonces.get(type))) {
                  send(type, subscribed.getOrDefault(type, Set.of()), reason);
                }
              } finally {
                lock.unlock();
              }
            },
            prev.delay().toMillis(),
            TimeUnit.MILLISECONDS);
  }

  private record Rejection(String version, int hash, Duration delay) {}

  private void apply(String type, List<Any> resources) {
    switch (type) {
      case XdsStatus.CLUSTER -> state.applyClusters(unpack(resources, Cluster.class));
      case XdsStatus.ENDPOINT ->
          state.applyEndpoints(unpack(resources, ClusterLoadAssignment.class));
      case XdsStatus.LISTENER -> state.applyListeners(unpack(resources, Listener.class));
      case XdsStatus.ROUTE -> state.applyRoutes(unpack(resources, RouteConfiguration.class));
      default -> throw new IllegalArgumentException("type " + type + " not supported");
    }
  }

  private static <T extends Message> List<T> unpack(List<Any> resources, Class<T> type) {
    List<T> out = new ArrayList<>(resources.size());
    for (Any a : resources) {
      if (!a.is(type)) {
        throw new IllegalArgumentException(
            "resource of type " + a.getTypeUrl() + " in a response for " + type.getSimpleName());
      }
      out.add(ListenerDecoder.unpack("", a, type));
    }
    return out;
  }

  private static String shortName(String type) {
    return type.substring(type.lastIndexOf('.') + 1);
  }

  private void onBroken(int g, @Nullable Throwable cause) {
    lock.lock();
    try {
      if (g != generation || closed) {
        return;
      }
      connected = false;
      requests = null;
      Duration wait = backoff;
      backoff =
          backoff.multipliedBy(2).compareTo(maxBackoff) > 0 ? maxBackoff : backoff.multipliedBy(2);
      LOG.log(
          Level.WARNING,
          "xDS stream closed"
              + (cause == null ? "" : " (" + cause.getMessage() + ")")
              + "; reconnecting in "
              + wait.toMillis()
              + " ms");
      reconnects++;
      var unused = timer.schedule(this::open, wait.toMillis(), TimeUnit.MILLISECONDS);
    } finally {
      lock.unlock();
    }
  }

  /** The control plane's half of one stream; a stale stream's callbacks are ignored. */
  private final class Responses implements StreamObserver<DiscoveryResponse> {
    private final int g;

    Responses(int g) {
      this.g = g;
    }

    @Override
    public void onNext(DiscoveryResponse value) {
      onResponse(g, value);
    }

    @Override
    public void onError(Throwable t) {
      onBroken(g, t);
    }

    @Override
    public void onCompleted() {
      onBroken(g, null);
    }
  }
}
