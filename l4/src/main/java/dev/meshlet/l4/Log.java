package dev.meshlet.l4;

import java.time.ZonedDateTime;
import java.util.function.Supplier;

/**
 * The proxy's logging, which never throws: a log handler that fails (its formatter opening the time
 * zone data while the process has no file descriptor left throws an {@link Error}) must not end the
 * thread that logs, least of all the acceptor.
 */
final class Log {
  private static final System.Logger LOG = System.getLogger(TcpProxy.class.getName());

  static {
    try {
      // loads the logging backend and the time zone rules now, while files can be opened: the
      // default
      // formatter needs the rules for every line
      LOG.isLoggable(System.Logger.Level.WARNING);
      var unused = ZonedDateTime.now().getOffset();
    } catch (Throwable ignored) {
      // then the first log line loads them
    }
  }

  private Log() {}

  static void warn(String message) {
    try {
      LOG.log(System.Logger.Level.WARNING, message);
    } catch (Throwable ignored) {
      // logging is best effort
    }
  }

  static void debug(Supplier<String> message) {
    try {
      LOG.log(System.Logger.Level.DEBUG, message);
    } catch (Throwable ignored) {
      // logging is best effort
    }
  }
}
