package dev.meshlet.grpcit;

import io.grpc.MethodDescriptor;
import io.grpc.ServerServiceDefinition;
import io.grpc.Status;
import io.grpc.stub.ServerCalls;
import io.grpc.stub.StreamObserver;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A gRPC service defined by hand (no protoc): UTF-8 strings as messages, one method per call shape,
 * and methods that fail in the ways a proxy must pass on or act on.
 */
final class EchoService {
  static final String SERVICE = "meshlet.test.Echo";

  /** Messages are UTF-8 text. */
  static final MethodDescriptor.Marshaller<String> TEXT =
      new MethodDescriptor.Marshaller<>() {
        @Override
        public InputStream stream(String value) {
          return new ByteArrayInputStream(value.getBytes(StandardCharsets.UTF_8));
        }

        @Override
        public String parse(InputStream stream) {
          try {
            return new String(stream.readAllBytes(), StandardCharsets.UTF_8);
          } catch (IOException e) {
            throw new UncheckedIOException(e);
          }
        }
      };

  /** "hello NAME". */
  static final MethodDescriptor<String, String> SAY =
      method("Say", MethodDescriptor.MethodType.UNARY);

  /** "N" → the messages "1" … "N". */
  static final MethodDescriptor<String, String> COUNT =
      method("Count", MethodDescriptor.MethodType.SERVER_STREAMING);

  /** The messages sent, joined by commas. */
  static final MethodDescriptor<String, String> JOIN =
      method("Join", MethodDescriptor.MethodType.CLIENT_STREAMING);

  /** Each message back, upper-cased, as it comes. */
  static final MethodDescriptor<String, String> SHOUT =
      method("Shout", MethodDescriptor.MethodType.BIDI_STREAMING);

  /** Never answers (the call is held until the server stops). */
  static final MethodDescriptor<String, String> HANG =
      method("Hang", MethodDescriptor.MethodType.UNARY);

  /** One message, then nothing (the call is held until the server stops). */
  static final MethodDescriptor<String, String> TRICKLE =
      method("Trickle", MethodDescriptor.MethodType.SERVER_STREAMING);

  /** NOT_FOUND before any message: a Trailers-Only response. */
  static final MethodDescriptor<String, String> FIND =
      method("Find", MethodDescriptor.MethodType.UNARY);

  /** Two messages, then NOT_FOUND in the trailers. */
  static final MethodDescriptor<String, String> PAGES =
      method("Pages", MethodDescriptor.MethodType.SERVER_STREAMING);

  /** UNAVAILABLE for the first call (Trailers-Only), "ok" for the others. */
  static final MethodDescriptor<String, String> FLAKY =
      method("Flaky", MethodDescriptor.MethodType.UNARY);

  final AtomicInteger calls = new AtomicInteger();
  final AtomicInteger flakyCalls = new AtomicInteger();

  /** Hanging calls, failed when the test ends. */
  final List<StreamObserver<String>> held = new CopyOnWriteArrayList<>();

  private static MethodDescriptor<String, String> method(
      String name, MethodDescriptor.MethodType type) {
    return MethodDescriptor.newBuilder(TEXT, TEXT)
        .setType(type)
        .setFullMethodName(MethodDescriptor.generateFullMethodName(SERVICE, name))
        .build();
  }

  ServerServiceDefinition definition() {
    return ServerServiceDefinition.builder(SERVICE)
        .addMethod(SAY, ServerCalls.asyncUnaryCall(this::say))
        .addMethod(COUNT, ServerCalls.asyncServerStreamingCall(this::count))
        .addMethod(JOIN, ServerCalls.asyncClientStreamingCall(this::join))
        .addMethod(SHOUT, ServerCalls.asyncBidiStreamingCall(this::shout))
        .addMethod(
            HANG,
            ServerCalls.asyncUnaryCall(
                (String request, StreamObserver<String> out) -> {
                  calls.incrementAndGet();
                  held.add(out);
                }))
        .addMethod(
            FIND,
            ServerCalls.asyncUnaryCall(
                (String request, StreamObserver<String> out) -> {
                  calls.incrementAndGet();
                  out.onError(
                      Status.NOT_FOUND.withDescription("no item " + request).asRuntimeException());
                }))
        .addMethod(
            TRICKLE,
            ServerCalls.asyncServerStreamingCall(
                (String request, StreamObserver<String> out) -> {
                  calls.incrementAndGet();
                  out.onNext("first");
                  held.add(out);
                }))
        .addMethod(PAGES, ServerCalls.asyncServerStreamingCall(this::pages))
        .addMethod(FLAKY, ServerCalls.asyncUnaryCall(this::flaky))
        .build();
  }

  private void say(String name, StreamObserver<String> out) {
    calls.incrementAndGet();
    out.onNext("hello " + name);
    out.onCompleted();
  }

  private void count(String n, StreamObserver<String> out) {
    calls.incrementAndGet();
    for (int i = 1; i <= Integer.parseInt(n); i++) {
      out.onNext(Integer.toString(i));
    }
    out.onCompleted();
  }

  private StreamObserver<String> join(StreamObserver<String> out) {
    calls.incrementAndGet();
    StringBuilder all = new StringBuilder();
    return new StreamObserver<>() {
      @Override
      public void onNext(String value) {
        all.append(all.isEmpty() ? "" : ",").append(value);
      }

      @Override
      public void onError(Throwable t) {}

      @Override
      public void onCompleted() {
        out.onNext(all.toString());
        out.onCompleted();
      }
    };
  }

  private StreamObserver<String> shout(StreamObserver<String> out) {
    calls.incrementAndGet();
    return new StreamObserver<>() {
      @Override
      public void onNext(String value) {
        out.onNext(value.toUpperCase(Locale.ROOT));
      }

      @Override
      public void onError(Throwable t) {}

      @Override
      public void onCompleted() {
        out.onCompleted();
      }
    };
  }

  private void pages(String request, StreamObserver<String> out) {
    calls.incrementAndGet();
    out.onNext("page 1");
    out.onNext("page 2");
    out.onError(Status.NOT_FOUND.withDescription("no page 3").asRuntimeException());
  }

  private void flaky(String request, StreamObserver<String> out) {
    calls.incrementAndGet();
    if (flakyCalls.incrementAndGet() == 1) {
      out.onError(Status.UNAVAILABLE.withDescription("warming up").asRuntimeException());
      return;
    }
    out.onNext("ok " + request);
    out.onCompleted();
  }

  /** Fails the hanging calls, so the server can stop at once. */
  void release() {
    for (StreamObserver<String> out : held) {
      try {
        out.onError(Status.CANCELLED.asRuntimeException());
      } catch (RuntimeException alreadyEnded) {
        // the client's deadline ended it
      }
    }
  }
}
