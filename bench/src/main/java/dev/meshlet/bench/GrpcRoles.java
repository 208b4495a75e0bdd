package dev.meshlet.bench;

import io.grpc.CallOptions;
import io.grpc.ManagedChannel;
import io.grpc.MethodDescriptor;
import io.grpc.Server;
import io.grpc.ServerServiceDefinition;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.ClientCalls;
import io.grpc.stub.ServerCalls;
import io.grpc.stub.StreamObserver;
import java.io.BufferedReader;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Child roles of the {@code grpc} phase: a grpc-java server with one unary method that echoes its
 * bytes, and a client that keeps N unary calls in flight. The service is defined by hand (a {@link
 * MethodDescriptor} with a byte marshaller), so no protoc is needed.
 *
 * <p>{@code grpc-server} prints {@code PORT n} and runs until end of input. {@code grpc-client
 * <port> <in-flight calls>} connects (h2c), then for each {@code run <seconds>} line on stdin
 * prints {@code CALLS <completed> <failed>}; end of input closes it.
 */
final class GrpcRoles {
  private GrpcRoles() {}

  /** The request and the echoed answer: a small message, as a typical unary call carries. */
  private static final byte[] PAYLOAD = "meshlet-bench unary call".getBytes(StandardCharsets.UTF_8);

  private static final MethodDescriptor.Marshaller<byte[]> BYTES =
      new MethodDescriptor.Marshaller<>() {
        @Override
        public InputStream stream(byte[] value) {
          return new ByteArrayInputStream(value);
        }

        @Override
        public byte[] parse(InputStream stream) {
          try {
            return stream.readAllBytes();
          } catch (IOException e) {
            throw new UncheckedIOException(e);
          }
        }
      };

  static final MethodDescriptor<byte[], byte[]> ECHO =
      MethodDescriptor.newBuilder(BYTES, BYTES)
          .setType(MethodDescriptor.MethodType.UNARY)
          .setFullMethodName(MethodDescriptor.generateFullMethodName("meshlet.bench.Echo", "Echo"))
          .build();

  static void server(String[] args) throws Exception {
    ServerServiceDefinition echo =
        ServerServiceDefinition.builder("meshlet.bench.Echo")
            .addMethod(
                ECHO,
                ServerCalls.asyncUnaryCall(
                    (byte[] request, StreamObserver<byte[]> out) -> {
                      out.onNext(request);
                      out.onCompleted();
                    }))
            .build();
    // directExecutor: the echo never blocks, so it runs on Netty's event loop without a hop
    Server server =
        NettyServerBuilder.forAddress(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0))
            .directExecutor()
            .addService(echo)
            .build()
            .start();
    System.out.println("PORT " + server.getPort());
    System.out.flush();
    awaitEndOfInput();
    server.shutdownNow().awaitTermination(10, TimeUnit.SECONDS);
    System.exit(0);
  }

  static void client(String[] args) throws Exception {
    if (args.length != 2) {
      throw new IllegalArgumentException("usage: grpc-client <port> <in-flight calls>");
    }
    int port = Integer.parseInt(args[0]);
    int inFlight = Integer.parseInt(args[1]);
    if (inFlight < 1) {
      throw new IllegalArgumentException("in-flight calls: " + inFlight + " (expected: >= 1)");
    }
    ManagedChannel channel =
        NettyChannelBuilder.forAddress("127.0.0.1", port).usePlaintext().directExecutor().build();
    try (BufferedReader in =
        new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8))) {
      for (String line; (line = in.readLine()) != null; ) {
        if (line.startsWith("run ")) {
          double seconds = Double.parseDouble(line.substring(4).strip());
          long[] r = run(channel, inFlight, (long) (seconds * 1e9));
          System.out.println("CALLS " + r[0] + " " + r[1]);
          System.out.flush();
        }
      }
    } finally {
      channel.shutdownNow().awaitTermination(10, TimeUnit.SECONDS);
    }
    System.exit(0);
  }

  /** Keeps {@code inFlight} calls going for {@code nanos}; returns completed and failed calls. */
  private static long[] run(ManagedChannel channel, int inFlight, long nanos)
      throws InterruptedException {
    AtomicLong ok = new AtomicLong();
    AtomicLong failed = new AtomicLong();
    AtomicReference<String> firstError = new AtomicReference<>("");
    CountDownLatch drained = new CountDownLatch(inFlight);
    long end = System.nanoTime() + nanos;
    for (int i = 0; i < inFlight; i++) {
      call(channel, end, ok, failed, firstError, drained);
    }
    if (!drained.await(nanos / 1_000_000 + 30_000, TimeUnit.MILLISECONDS)) {
      throw new IllegalStateException("calls still in flight 30 s after the end of the run");
    }
    if (failed.get() > 0) {
      System.err.println("grpc-client: " + failed.get() + " calls failed, first: " + firstError);
    }
    return new long[] {ok.get(), failed.get()};
  }

  /** One call; its completion starts the next until {@code end}, then counts the chain drained. */
  private static void call(
      ManagedChannel channel,
      long end,
      AtomicLong ok,
      AtomicLong failed,
      AtomicReference<String> firstError,
      CountDownLatch drained) {
    ClientCalls.asyncUnaryCall(
        channel.newCall(ECHO, CallOptions.DEFAULT),
        PAYLOAD,
        new StreamObserver<>() {
          @Override
          public void onNext(byte[] value) {
            if (value.length != PAYLOAD.length) {
              failed.incrementAndGet();
              firstError.compareAndSet("", "answer of " + value.length + " bytes");
            }
          }

          @Override
          public void onError(Throwable t) {
            failed.incrementAndGet();
            firstError.compareAndSet("", String.valueOf(t));
            drained.countDown(); // a failed chain ends: a refused call could fail at once, again
          }

          @Override
          public void onCompleted() {
            ok.incrementAndGet();
            next();
          }

          private void next() {
            if (System.nanoTime() - end < 0) {
              call(channel, end, ok, failed, firstError, drained);
            } else {
              drained.countDown();
            }
          }
        });
  }

  private static void awaitEndOfInput() throws IOException {
    InputStream in = System.in;
    while (in.read() >= 0) {
      // nothing is read from the server's stdin but its end
    }
  }
}
