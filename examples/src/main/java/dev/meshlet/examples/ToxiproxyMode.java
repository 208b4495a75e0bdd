package dev.meshlet.examples;

import dev.meshlet.admin.Admin;
import java.io.PrintStream;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CountDownLatch;

/**
 * {@code meshlet toxiproxy …}: a drop-in for {@code toxiproxy-server}, its HTTP API on meshlet's
 * TCP proxies (the admin endpoint with nothing registered).
 */
final class ToxiproxyMode {
  static final String USAGE =
      """
        java -jar meshlet.jar toxiproxy [--listen 127.0.0.1:8474] [--admin-allow-remote]
      """;

  static final String HELP =
      """
        toxiproxy            a Toxiproxy-compatible API server (as toxiproxy-server) on --listen;
                             the proxies it makes listen where their "listen" field says
      """;

  static final Set<String> FLAGS = Set.of("--listen");
  static final Set<String> SWITCHES = Set.of("--admin-allow-remote");

  private ToxiproxyMode() {}

  static int run(List<String> args, PrintStream out, CountDownLatch stop) throws Exception {
    Flags f = new Flags(args, FLAGS, SWITCHES);
    String[] listen = AdminFlags.address(f.optionalOr("--listen", "127.0.0.1:8474"), "--listen");
    boolean remote = f.flag("--admin-allow-remote");
    f.done();
    Admin.Builder b = Admin.builder().listen(listen[0], Integer.parseInt(listen[1]));
    if (remote) {
      b.allowNonLoopback();
    }
    try (Admin admin = b.start()) {
      out.println("meshlet toxiproxy listening on " + listen[0] + ":" + admin.port());
      out.flush();
      stop.await();
      out.println("meshlet toxiproxy stopping");
      out.flush();
    }
    out.println("meshlet toxiproxy stopped");
    return 0;
  }
}
