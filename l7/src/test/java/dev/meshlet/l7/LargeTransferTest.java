package dev.meshlet.l7;

import static org.assertj.core.api.Assertions.assertThat;

import dev.meshlet.core.Cluster;
import dev.meshlet.testkit.NoLeakedThreads;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryMXBean;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.Flow;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.eclipse.jetty.io.Content;
import org.eclipse.jetty.server.Request;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * 1 GiB through the proxy in each direction with the test JVM's heap capped (see the module's
 * surefire {@code -Xmx}, asserted below half a GiB): heap use must be bounded by buffers, not by
 * body size, or the JVM runs out of memory. The sampled peak of used heap (garbage included) is
 * printed.
 */
@ExtendWith(NoLeakedThreads.class)
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class LargeTransferTest {
  static final long GIB = 1024L * 1024 * 1024;

  @Test
  void oneGibDownloadAndUploadKeepHeapBounded() throws Exception {
    byte[] block = new byte[64 * 1024];
    try (TestBackend big =
            TestBackend.with(
                "big",
                (request, response, callback) -> {
                  if (request.getMethod().equals("GET")) {
                    response.getHeaders().put("Content-Length", GIB);
                    try (OutputStream out = Content.Sink.asOutputStream(response)) {
                      for (long sent = 0; sent < GIB; sent += block.length) {
                        out.write(block);
                      }
                    }
                    callback.succeeded();
                  } else {
                    long n = 0;
                    try (InputStream in = Request.asInputStream(request)) {
                      byte[] buf = new byte[64 * 1024];
                      for (int r; (r = in.read(buf)) >= 0; ) {
                        n += r;
                      }
                    }
                    response.write(
                        true,
                        ByteBuffer.wrap(Long.toString(n).getBytes(StandardCharsets.US_ASCII)),
                        callback);
                  }
                  return true;
                });
        HttpProxy proxy =
            HttpProxy.builder()
                .listen("127.0.0.1", 0)
                .defaultRoute(Cluster.of("big", big.backend()))
                .start();
        HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build()) {
      MemoryMXBean memory = ManagementFactory.getMemoryMXBean();
      AtomicLong peak = new AtomicLong();
      AtomicBoolean running = new AtomicBoolean(true);
      Thread sampler =
          Thread.ofPlatform()
              .daemon()
              .name("heap-sampler")
              .start(
                  () -> {
                    while (running.get()) {
                      peak.accumulateAndGet(memory.getHeapMemoryUsage().getUsed(), Math::max);
                      try {
                        Thread.sleep(20); // sampling interval
                      } catch (InterruptedException e) {
                        return;
                      }
                    }
                  });
      long start = System.nanoTime();
      HttpResponse<InputStream> down =
          http.send(
              HttpRequest.newBuilder(proxy.uri().resolve("/down")).build(),
              HttpResponse.BodyHandlers.ofInputStream());
      long received = 0;
      try (InputStream in = down.body()) {
        byte[] buf = new byte[64 * 1024];
        for (int r; (r = in.read(buf)) >= 0; ) {
          received += r;
        }
      }
      assertThat(received).isEqualTo(GIB);

      HttpRequest.BodyPublisher gib =
          HttpRequest.BodyPublishers.fromPublisher(
              new Flow.Publisher<ByteBuffer>() {
                @Override
                public void subscribe(Flow.Subscriber<? super ByteBuffer> s) {
                  s.onSubscribe(
                      new Flow.Subscription() {
                        long left = GIB;

                        @Override
                        public void request(long n) {
                          for (long i = 0; i < n && left > 0; i++) {
                            left -= block.length;
                            s.onNext(ByteBuffer.wrap(block));
                          }
                          if (left <= 0) {
                            left = -1;
                            s.onComplete();
                          }
                        }

                        @Override
                        public void cancel() {
                          left = 0;
                        }
                      });
                }
              },
              GIB);
      HttpResponse<String> up =
          http.send(
              HttpRequest.newBuilder(proxy.uri().resolve("/up")).POST(gib).build(),
              HttpResponse.BodyHandlers.ofString());
      assertThat(up.body()).isEqualTo(Long.toString(GIB));
      running.set(false);
      sampler.join();
      long seconds = (System.nanoTime() - start) / 1_000_000_000L;
      long maxHeap = memory.getHeapMemoryUsage().getMax();
      System.out.println(
          "2 GiB through the proxy in "
              + seconds
              + " s; peak heap "
              + peak.get() / (1024 * 1024)
              + " MiB of "
              + maxHeap / (1024 * 1024)
              + " MiB");
      // the proof of streaming: each GiB went through a JVM whose whole heap is far smaller than it
      assertThat(maxHeap).as("max heap (the pom's -Xmx)").isLessThan(GIB / 2);
    }
  }
}
