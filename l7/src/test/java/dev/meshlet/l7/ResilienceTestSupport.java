package dev.meshlet.l7;

import dev.meshlet.core.Backend;
import dev.meshlet.core.Cluster;
import dev.meshlet.testkit.NoLeakedThreads;
import dev.meshlet.testkit.Resources;
import java.net.InetAddress;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.eclipse.jetty.io.Content;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.HttpConfiguration;
import org.eclipse.jetty.server.HttpConnectionFactory;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.util.Callback;
import org.eclipse.jetty.util.thread.QueuedThreadPool;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.AutoClose;

/**
 * Restartable Jetty backends and an HTTP client for the resilience tests, closed after each test.
 */
abstract class ResilienceTestSupport {
  static final long CLIENT_KEY = InetAddress.getLoopbackAddress().hashCode();

  // the thread check runs here, once everything is closed: JUnit closes @AutoClose fields after
  // every AfterEachCallback, so NoLeakedThreads as an extension would look too early
  @AutoClose
  final Resources resources =
      Resources.thenCheck(() -> NoLeakedThreads.awaitNone(NoLeakedThreads.MESHLET));

  // tracked first, so closed last, after the proxies
  final HttpClient http =
      resources.track(HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build());

  /** A Jetty backend on a fixed port that can be stopped and started again, and made to fail. */
  static final class Box implements AutoCloseable {
    final String name;
    final Server server;
    final ServerConnector connector;
    final AtomicInteger requests = new AtomicInteger();
    volatile int status = 200;
    volatile int healthStatus = 200;
    volatile @Nullable CountDownLatch hold;

    /** The 1st, 3rd, … request is answered 503 at once; the others wait for {@code hold}. */
    volatile boolean oddRequestsFail;

    Box(String name, long idleTimeoutMillis) throws Exception {
      this.name = name;
      QueuedThreadPool threads = new QueuedThreadPool(32, 2);
      threads.setName("backend-" + name);
      server = new Server(threads);
      HttpConfiguration config = new HttpConfiguration();
      config.setIdleTimeout(idleTimeoutMillis);
      connector = new ServerConnector(server, 1, 1, new HttpConnectionFactory(config));
      connector.setHost("127.0.0.1");
      connector.setIdleTimeout(idleTimeoutMillis);
      connector.setReuseAddress(true);
      server.addConnector(connector);
      server.setStopTimeout(0);
      server.setHandler(
          new Handler.Abstract() {
            @Override
            public boolean handle(Request request, Response response, Callback callback)
                throws Exception {
              if (request.getHttpURI().getPath().equals("/healthz")) {
                response.setStatus(healthStatus);
                response.write(true, null, callback);
                return true;
              }
              int n = requests.incrementAndGet();
              if (oddRequestsFail && n % 2 == 1) {
                response.setStatus(503);
                response.write(true, null, callback);
                return true;
              }
              CountDownLatch h = hold;
              if (h != null) {
                h.await(20, TimeUnit.SECONDS);
              }
              int bodyLength = Content.Source.asByteBuffer(request).remaining();
              int s = status;
              response.setStatus(s);
              response.getHeaders().put("X-Backend", name);
              String text = name + (bodyLength > 0 ? ":" + bodyLength : "");
              response.write(
                  true, ByteBuffer.wrap(text.getBytes(StandardCharsets.UTF_8)), callback);
              return true;
            }
          });
      server.start();
      connector.setPort(connector.getLocalPort()); // a restart binds the same port
    }

    Backend backend() {
      return Backend.of("127.0.0.1", connector.getPort()).withName(name);
    }

    void stop() throws Exception {
      server.stop();
    }

    void start() throws Exception {
      server.start();
    }

    @Override
    public void close() throws Exception {
      server.stop();
    }
  }

  HttpResponse<String> get(HttpProxy proxy, String path) throws Exception {
    return http.send(
        HttpRequest.newBuilder(proxy.uri().resolve(path)).timeout(Duration.ofSeconds(20)).build(),
        HttpResponse.BodyHandlers.ofString());
  }

  HttpResponse<String> post(HttpProxy proxy, int bytes) throws Exception {
    return http.send(
        HttpRequest.newBuilder(proxy.uri().resolve("/p"))
            .POST(HttpRequest.BodyPublishers.ofByteArray(new byte[bytes]))
            .timeout(Duration.ofSeconds(20))
            .build(),
        HttpResponse.BodyHandlers.ofString());
  }

  static RetryPolicy.Builder fastRetries() {
    return RetryPolicy.builder().maxAttempts(3).backoff(Duration.ofMillis(1), Duration.ofMillis(5));
  }

  /**
   * Which of two backends the cluster picks first for requests from 127.0.0.1 (consistent hashing).
   */
  static int firstPick(Cluster c) {
    return c.endpoints().indexOf(c.pick(CLIENT_KEY));
  }
}
