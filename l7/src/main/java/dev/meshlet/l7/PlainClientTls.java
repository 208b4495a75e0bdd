package dev.meshlet.l7;

import org.eclipse.jetty.util.ssl.SslContextFactory;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The TLS context factory every proxy's plain upstream client holds and never uses: Jetty's client
 * connector builds and starts one of its own otherwise, reading the JDK's trust store and filtering
 * cipher lists at each proxy's start. One per JVM, started once and never stopped (it holds no
 * thread and no socket); a client holding a started factory leaves it running when it stops.
 * Clusters with TLS get clients of their own, with their own factories.
 */
final class PlainClientTls {
  private static final Logger LOG = LoggerFactory.getLogger(PlainClientTls.class);

  private PlainClientTls() {}

  /** The shared factory; null when it could not start (each connector then makes its own). */
  static SslContextFactory.@Nullable Client shared() {
    return Holder.FACTORY;
  }

  private static final class Holder {
    static final SslContextFactory.@Nullable Client FACTORY = start();

    private static SslContextFactory.@Nullable Client start() {
      SslContextFactory.Client f = new SslContextFactory.Client();
      try {
        f.start();
        return f;
      } catch (Exception e) {
        LOG.debug("no shared TLS context for plain clients", e);
        return null;
      }
    }
  }
}
