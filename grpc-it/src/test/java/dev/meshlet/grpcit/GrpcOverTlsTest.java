package dev.meshlet.grpcit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import dev.meshlet.core.Backend;
import dev.meshlet.core.ClientTls;
import dev.meshlet.core.Cluster;
import dev.meshlet.core.ServerTls;
import dev.meshlet.core.TlsIdentity;
import dev.meshlet.core.TlsTrust;
import dev.meshlet.l7.HttpProxy;
import dev.meshlet.l7.UpstreamProtocol;
import dev.meshlet.testkit.Await;
import dev.meshlet.testpki.TestPki;
import io.grpc.CallOptions;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.TlsChannelCredentials;
import io.grpc.TlsServerCredentials;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.ClientCalls;
import io.grpc.stub.StreamObserver;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * gRPC in h2 over TLS on both sides: a grpc-java client negotiates h2 by ALPN with the proxy's TLS
 * listener, the proxy reaches a grpc-java TLS server in h2 by ALPN, each side verifying the other's
 * certificate against the test CA.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class GrpcOverTlsTest {
  static final TestPki PKI = TestPki.create();
  final EchoService service = new EchoService();
  Server server;
  HttpProxy proxy;
  ManagedChannel channel;

  @BeforeEach
  void start(@TempDir Path dir) throws Exception {
    TestPki.Leaf backendLeaf = PKI.leafFor(List.of("localhost"), List.of("127.0.0.1"));
    TestPki.Pem backendPem =
        backendLeaf.writePem(dir.resolve("backend.crt"), dir.resolve("backend.key"));
    server =
        NettyServerBuilder.forAddress(
                new InetSocketAddress(InetAddress.getLoopbackAddress(), 0),
                TlsServerCredentials.create(backendPem.chain().toFile(), backendPem.key().toFile()))
            .addService(service.definition())
            .build()
            .start();
    Cluster grpc =
        Cluster.builder("grpc")
            .backends(Backend.of("127.0.0.1", server.getPort()))
            .tls(ClientTls.builder().trust(TlsTrust.of(PKI.caCertificate())).build())
            .build();
    TestPki.Leaf proxyLeaf = PKI.leafFor(List.of("localhost"), List.of("127.0.0.1"));
    proxy =
        HttpProxy.builder()
            .listen("127.0.0.1", 0)
            .tls(ServerTls.of(TlsIdentity.of(proxyLeaf.privateKey(), proxyLeaf.chain())))
            .upstreamProtocol(grpc, UpstreamProtocol.H2)
            .route(r -> r.pathPrefix("/" + EchoService.SERVICE + "/").to(grpc))
            .start();
    channel =
        NettyChannelBuilder.forAddress(
                "127.0.0.1",
                proxy.port(),
                TlsChannelCredentials.newBuilder().trustManager(PKI.caPem(dir).toFile()).build())
            .build();
  }

  @AfterEach
  void stop() throws Exception {
    service.release();
    if (channel != null) {
      channel.shutdownNow().awaitTermination(10, TimeUnit.SECONDS);
    }
    if (proxy != null) {
      proxy.close();
    }
    if (server != null) {
      server.shutdownNow().awaitTermination(10, TimeUnit.SECONDS);
    }
  }

  @Test
  void unaryAndStatusInTrailersPassOverTlsBothWays() throws Exception {
    assertThat(
            ClientCalls.blockingUnaryCall(
                channel,
                EchoService.SAY,
                CallOptions.DEFAULT.withDeadlineAfter(20, TimeUnit.SECONDS),
                "tls"))
        .isEqualTo("hello tls");
    StatusRuntimeException x =
        catchThrowableOfType(
            StatusRuntimeException.class,
            () ->
                ClientCalls.blockingUnaryCall(
                    channel,
                    EchoService.FIND,
                    CallOptions.DEFAULT.withDeadlineAfter(20, TimeUnit.SECONDS),
                    "42"));
    assertThat(x.getStatus().getCode()).isEqualTo(Status.Code.NOT_FOUND);
    assertThat(x.getStatus().getDescription()).isEqualTo("no item 42");
    Await.until("both calls answered", () -> proxy.stats().total().status2xx() == 2);
  }

  @Test
  void bidiStreamingRunsOverTlsBothWays() throws Exception {
    GrpcThroughProxyTest.Collected answers = new GrpcThroughProxyTest.Collected();
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
}
