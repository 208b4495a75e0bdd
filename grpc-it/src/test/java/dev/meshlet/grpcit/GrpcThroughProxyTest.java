package dev.meshlet.grpcit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import dev.meshlet.core.Backend;
import dev.meshlet.core.Cluster;
import dev.meshlet.l7.HttpFault;
import dev.meshlet.l7.HttpProxy;
import dev.meshlet.l7.HttpProxyStats;
import dev.meshlet.l7.HttpRouteBuilder;
import dev.meshlet.l7.RetryPolicy;
import dev.meshlet.l7.UpstreamProtocol;
import dev.meshlet.testkit.Await;
import io.grpc.CallOptions;
import io.grpc.ClientInterceptors;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.ClientCalls;
import io.grpc.stub.MetadataUtils;
import io.grpc.stub.StreamObserver;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Consumer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A grpc-java client calls a grpc-java server through the L7 proxy, HTTP/2 in clear text on both
 * sides: the four call shapes, statuses in trailers and Trailers-Only, the call's deadline enforced
 * by the proxy, a retry on UNAVAILABLE and an injected gRPC abort.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class GrpcThroughProxyTest {
  final EchoService service = new EchoService();
  final Server server;
  ManagedChannel channel;
  HttpProxy proxy;

  GrpcThroughProxyTest() throws Exception {
    server =
        NettyServerBuilder.forAddress(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0))
            .addService(service.definition())
            .build()
            .start();
  }

  @AfterEach
  void close() throws Exception {
    service.release();
    if (channel != null) {
      channel.shutdownNow().awaitTermination(10, TimeUnit.SECONDS);
    }
    if (proxy != null) {
      proxy.close();
    }
    server.shutdownNow().awaitTermination(10, TimeUnit.SECONDS);
  }

  /** The proxy in front of the server, with {@code route}'s settings, and a channel to it. */
  void start(Consumer<HttpRouteBuilder> route) throws IOException {
    Cluster grpc = Cluster.of("grpc", Backend.of("127.0.0.1", server.getPort()));
    start(grpc, route);
  }

  void start(Cluster cluster, Consumer<HttpRouteBuilder> route) throws IOException {
    proxy =
        HttpProxy.builder()
            .listen("127.0.0.1", 0)
            .h2c(true)
            .upstreamProtocol(cluster, UpstreamProtocol.H2C)
            .route(
                r -> {
                  r.pathPrefix("/" + EchoService.SERVICE + "/").to(cluster);
                  route.accept(r);
                })
            .start();
    channel = NettyChannelBuilder.forAddress("127.0.0.1", proxy.port()).usePlaintext().build();
  }

  String unary(MethodDescriptor<String, String> method, String request) {
    return ClientCalls.blockingUnaryCall(
        channel, method, CallOptions.DEFAULT.withDeadlineAfter(20, TimeUnit.SECONDS), request);
  }

  /**
   * Connects the channel (and warms both sides) with one call, so that a short deadline measures
   * the call, not the connection.
   */
  void warmUp() {
    assertThat(unary(EchoService.SAY, "warm")).isEqualTo("hello warm");
  }

  static StatusRuntimeException failure(Runnable call) {
    return catchThrowableOfType(StatusRuntimeException.class, call::run);
  }

  HttpProxyStats idleStats() {
    Await.until("no request in flight", () -> proxy.stats().total().inFlight() == 0);
    return proxy.stats();
  }

  @Test
  void unaryCall() throws Exception {
    start(r -> {});
    assertThat(unary(EchoService.SAY, "ann")).isEqualTo("hello ann");
    assertThat(unary(EchoService.SAY, "bob")).isEqualTo("hello bob");
    assertThat(idleStats().total().status2xx()).isEqualTo(2);
  }

  @Test
  void serverStreamingCall() throws Exception {
    start(r -> {});
    List<String> got = new ArrayList<>();
    ClientCalls.blockingServerStreamingCall(
            channel,
            EchoService.COUNT,
            CallOptions.DEFAULT.withDeadlineAfter(20, TimeUnit.SECONDS),
            "500")
        .forEachRemaining(got::add);
    assertThat(got).hasSize(500).startsWith("1", "2").endsWith("500");
  }

  @Test
  void clientStreamingCall() throws Exception {
    start(r -> {});
    Collected answer = new Collected();
    StreamObserver<String> out =
        ClientCalls.asyncClientStreamingCall(
            channel.newCall(
                EchoService.JOIN, CallOptions.DEFAULT.withDeadlineAfter(20, TimeUnit.SECONDS)),
            answer);
    for (String s : List.of("a", "b", "c")) {
      out.onNext(s);
    }
    out.onCompleted();
    assertThat(answer.get()).containsExactly("a,b,c");
  }

  @Test
  void bidiStreamingCallAnswersEachMessageAsItComes() throws Exception {
    start(r -> {});
    Collected answers = new Collected();
    StreamObserver<String> out =
        ClientCalls.asyncBidiStreamingCall(
            channel.newCall(
                EchoService.SHOUT, CallOptions.DEFAULT.withDeadlineAfter(20, TimeUnit.SECONDS)),
            answers);
    out.onNext("x");
    Await.until("the first answer", () -> answers.values.size() == 1); // before the client ends
    out.onNext("y");
    out.onCompleted();
    assertThat(answers.get()).containsExactly("X", "Y");
  }

  @Test
  void theProxyEnforcesTheCallsDeadline() throws Exception {
    // the offset makes the proxy's deadline pass before the client's own: its status is the one
    // seen
    start(r -> r.requestTimeout(Duration.ofSeconds(20)).grpcTimeoutOffset(Duration.ofMillis(100)));
    warmUp();
    long begin = System.nanoTime();
    StatusRuntimeException x =
        failure(
            () ->
                ClientCalls.blockingUnaryCall(
                    channel,
                    EchoService.HANG,
                    CallOptions.DEFAULT.withDeadlineAfter(300, TimeUnit.MILLISECONDS),
                    "x"));
    long millis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - begin);

    assertThat(x.getStatus().getCode()).isEqualTo(Status.Code.DEADLINE_EXCEEDED);
    assertThat(x.getStatus().getDescription()).isEqualTo("meshlet: 504 Gateway Timeout");
    assertThat(millis).isBetween(150L, 5_000L);
    assertThat(service.calls.get()).isEqualTo(2);
    assertThat(idleStats().total().errors(HttpProxyStats.ErrorKind.GATEWAY_TIMEOUT)).isEqualTo(1);
  }

  @Test
  void aDeadlineThatPassesMidStreamEndsTheCallAndTheProxyServesOn() throws Exception {
    start(r -> r.grpcTimeoutOffset(Duration.ofMillis(100)));
    warmUp();
    List<String> got = new ArrayList<>();
    long begin = System.nanoTime();
    StatusRuntimeException x =
        failure(
            () ->
                ClientCalls.blockingServerStreamingCall(
                        channel,
                        EchoService.TRICKLE,
                        CallOptions.DEFAULT.withDeadlineAfter(300, TimeUnit.MILLISECONDS),
                        "q")
                    .forEachRemaining(got::add));
    long millis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - begin);

    assertThat(got).containsExactly("first"); // the head and a message were forwarded: a reset
    assertThat(x.getStatus().getCode()).isNotEqualTo(Status.Code.OK);
    assertThat(millis).isLessThan(5_000L);
    HttpProxyStats s = idleStats();
    assertThat(s.total().errors(HttpProxyStats.ErrorKind.UPSTREAM_ABORTED)).isEqualTo(1);
    assertThat(unary(EchoService.SAY, "ann")).isEqualTo("hello ann");
  }

  @Test
  void aStatusInTrailersReachesTheClientAfterTheMessages() throws Exception {
    start(r -> {});
    List<String> got = new ArrayList<>();
    StatusRuntimeException x =
        failure(
            () ->
                ClientCalls.blockingServerStreamingCall(
                        channel,
                        EchoService.PAGES,
                        CallOptions.DEFAULT.withDeadlineAfter(20, TimeUnit.SECONDS),
                        "q")
                    .forEachRemaining(got::add));
    assertThat(got).containsExactly("page 1", "page 2");
    assertThat(x.getStatus().getCode()).isEqualTo(Status.Code.NOT_FOUND);
    assertThat(x.getStatus().getDescription()).isEqualTo("no page 3");
  }

  @Test
  void aTrailersOnlyStatusReachesTheClient() throws Exception {
    start(r -> r.retryPolicy(RetryPolicy.builder().retryOnGrpcStatus(14).build()));
    StatusRuntimeException x = failure(() -> unary(EchoService.FIND, "42"));
    assertThat(x.getStatus().getCode()).isEqualTo(Status.Code.NOT_FOUND);
    assertThat(x.getStatus().getDescription()).isEqualTo("no item 42");
    assertThat(service.calls.get()).isEqualTo(1); // NOT_FOUND is not a status the policy retries
    assertThat(idleStats().retries().total()).isZero();
  }

  @Test
  void unavailableIsRetriedAndTheClientSeesSuccess() throws Exception {
    start(
        r ->
            r.retryPolicy(
                RetryPolicy.builder()
                    .retryOnGrpcStatus(14)
                    .backoff(Duration.ofMillis(1), Duration.ofMillis(5))
                    .build()));
    assertThat(unary(EchoService.FLAKY, "x")).isEqualTo("ok x");
    assertThat(service.flakyCalls.get()).isEqualTo(2);
    HttpProxyStats s = idleStats();
    assertThat(s.retries().count(HttpProxyStats.RetryReason.GRPC_STATUS)).isEqualTo(1);
    assertThat(s.retries().total()).isEqualTo(1);
  }

  @Test
  void aGrpcAbortFaultAnswersWithItsStatus() throws Exception {
    start(r -> r.fault(HttpFault.grpcAbort(8).whenHeader("x-chaos")));
    Metadata chaos = new Metadata();
    chaos.put(Metadata.Key.of("x-chaos", Metadata.ASCII_STRING_MARSHALLER), "1");
    StatusRuntimeException x =
        failure(
            () ->
                ClientCalls.blockingUnaryCall(
                    ClientInterceptors.intercept(
                        channel, MetadataUtils.newAttachHeadersInterceptor(chaos)),
                    EchoService.SAY,
                    CallOptions.DEFAULT.withDeadlineAfter(20, TimeUnit.SECONDS),
                    "ann"));
    assertThat(x.getStatus().getCode()).isEqualTo(Status.Code.RESOURCE_EXHAUSTED);
    assertThat(x.getStatus().getDescription()).isEqualTo("fault injected");
    assertThat(service.calls.get()).isZero();
    assertThat(unary(EchoService.SAY, "ann")).isEqualTo("hello ann"); // no header: forwarded
  }

  @Test
  void noBackendIsUnavailable() throws Exception {
    int dead;
    try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      dead = s.getLocalPort();
    }
    start(Cluster.of("dead", Backend.of("127.0.0.1", dead)), r -> {});
    StatusRuntimeException x = failure(() -> unary(EchoService.SAY, "ann"));
    assertThat(x.getStatus().getCode()).isEqualTo(Status.Code.UNAVAILABLE);
    assertThat(x.getStatus().getDescription()).startsWith("meshlet: 502");
  }

  /** Collects a call's answers; {@link #get} waits for its end. */
  static final class Collected implements StreamObserver<String> {
    final List<String> values = new CopyOnWriteArrayList<>();
    final CompletableFuture<List<String>> done = new CompletableFuture<>();

    @Override
    public void onNext(String value) {
      values.add(value);
    }

    @Override
    public void onError(Throwable t) {
      done.completeExceptionally(t);
    }

    @Override
    public void onCompleted() {
      done.complete(values);
    }

    List<String> get() throws InterruptedException, ExecutionException, TimeoutException {
      return done.get(20, TimeUnit.SECONDS);
    }
  }
}
