package dev.meshlet.l7;

import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import org.eclipse.jetty.server.Request;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** One line per request at INFO to the SLF4J logger {@code dev.meshlet.l7.access}, written off the network threads. */
final class AccessLog {
  private static final Logger LOG = LoggerFactory.getLogger("dev.meshlet.l7.access");

  private AccessLog() {}

  static boolean enabled() {
    return LOG.isInfoEnabled();
  }

  /** Logs a request that ended; {@code serverHeadMicros} is -1 when no server response head was forwarded. */
  static void write(Executor executor, Request clientRequest, int status, String route, String backend,
      long serverHeadMicros, long totalMicros, long in, long out, HttpProxyStats.@Nullable ErrorKind kind) {
    Object[] line = {
        clientRequest.getMethod(),
        clientRequest.getHttpURI().getPathQuery(),
        status,
        route,
        backend,
        serverHeadMicros,
        totalMicros,
        in,
        out,
        kind == null ? "" : " error=" + kind};
    // this may run on a selector thread: a synchronous appender must not stall the network
    Runnable log = () -> LOG.info("{} {} {} route={} backend={} upstream_us={} total_us={} in={} out={}{}", line);
    try {
      executor.execute(log);
    } catch (RejectedExecutionException stopping) {
      log.run();
    }
  }
}
