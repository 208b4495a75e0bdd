package dev.meshlet.examples;

import dev.meshlet.admin.Admin;
import java.io.IOException;
import java.io.PrintStream;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.function.UnaryOperator;
import org.jspecify.annotations.Nullable;

/** {@code --admin HOST:PORT} and {@code --admin-allow-remote}, shared by the l4 and l7 modes. */
final class AdminFlags {
  static final String HELP =
      """
        --admin              l4, l7: serve the admin endpoint (metrics, /clusters, /config, /ready,
                             /drain, Toxiproxy API) on HOST:PORT, e.g. 127.0.0.1:9901 (default off)
        --admin-allow-remote let --admin bind to a non-loopback address (it has no authentication)
      """;

  private AdminFlags() {}

  /** {@code HOST:PORT} (or {@code PORT}, on 127.0.0.1) for {@code flag}. */
  static String[] address(String text, String flag) {
    int colon = text.lastIndexOf(':');
    String port = text.substring(colon + 1);
    if (port.isEmpty() || !port.chars().allMatch(c -> c >= '0' && c <= '9')) {
      throw new UsageException(flag + " '" + text + "': expected HOST:PORT (or PORT)");
    }
    String host = colon <= 0 ? "127.0.0.1" : text.substring(0, colon);
    if (host.startsWith("[") && host.endsWith("]")) {
      host = host.substring(1, host.length() - 1);
    }
    Values.port(port, flag);
    return new String[] {host, port};
  }

  private static boolean loopback(String host) {
    try {
      return InetAddress.getByName(host).isLoopbackAddress();
    } catch (UnknownHostException e) {
      throw new UsageException("--admin: host '" + host + "' does not resolve");
    }
  }

  /** What {@code --admin} and {@code --admin-allow-remote} asked for. */
  record Settings(String host, int port, boolean allowRemote) {}

  /** Reads the flags (before {@link Flags#done()}); null without {@code --admin}. */
  static @Nullable Settings read(Flags f) {
    String value = f.optional("--admin");
    boolean remote = f.flag("--admin-allow-remote");
    if (value == null) {
      if (remote) {
        throw new UsageException("--admin-allow-remote needs --admin HOST:PORT");
      }
      return null;
    }
    String[] a = address(value, "--admin");
    if (!remote && !loopback(a[0])) { // checked before the proxy starts and says it listens
      throw new UsageException(
          "admin listen "
              + a[0]
              + ":"
              + a[1]
              + ": not a loopback address; the admin endpoint can drain proxies and inject faults"
              + " and has no authentication: give --admin-allow-remote to bind it there anyway");
    }
    return new Settings(a[0], Integer.parseInt(a[1]), remote);
  }

  /**
   * Starts the admin endpoint with what {@code register} adds and prints where it listens; null
   * when {@code settings} is.
   */
  static @Nullable Admin start(
      @Nullable Settings settings, PrintStream out, UnaryOperator<Admin.Builder> register)
      throws IOException {
    if (settings == null) {
      return null;
    }
    Admin.Builder b = Admin.builder().listen(settings.host(), settings.port());
    if (settings.allowRemote()) {
      b.allowNonLoopback();
    }
    Admin admin = register.apply(b).start();
    out.println("meshlet admin listening on " + settings.host() + ":" + admin.port());
    out.flush();
    return admin;
  }
}
