package dev.meshlet.bench;

import java.util.concurrent.Executors;
import org.eclipse.jetty.http.HttpURI;
import org.eclipse.jetty.proxy.ProxyHandler;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.util.thread.QueuedThreadPool;

/**
 * Peer role: Jetty 12's own {@code ProxyHandler.Reverse}, forwarding everything to one backend on
 * loopback, set up as a user who cares would: a {@code Function} rewriter that swaps the authority
 * (the regex rewriter runs a regex per request) and virtual threads for blocking work.
 *
 * <p>Usage: {@code jetty-proxy <backend port> <listen port> [function|regex]} (default {@code
 * function}); runs until the process is killed. As a harness peer: {@code --peer 'jetty=l7:java -cp
 * bench/target/meshlet-bench.jar dev.meshlet.bench.Main jetty-proxy $BACKEND_PORT $LISTEN_PORT'}.
 */
final class JettyProxyRole {
  private JettyProxyRole() {}

  static void main(String[] args) throws Exception {
    if (args.length < 2) {
      throw new IllegalArgumentException(
          "usage: jetty-proxy <backend port> <listen port> [function|regex]");
    }
    int backendPort = Integer.parseInt(args[0]);
    int listenPort = Integer.parseInt(args[1]);
    String rewriter = args.length > 2 ? args[2] : "function";
    QueuedThreadPool threads = new QueuedThreadPool();
    threads.setVirtualThreadsExecutor(Executors.newVirtualThreadPerTaskExecutor());
    Server server = new Server(threads);
    ServerConnector connector = new ServerConnector(server);
    connector.setHost("127.0.0.1");
    connector.setPort(listenPort);
    server.addConnector(connector);
    server.setHandler(
        switch (rewriter) {
          case "function" ->
              new ProxyHandler.Reverse(
                  request ->
                      HttpURI.build(request.getHttpURI()).host("127.0.0.1").port(backendPort));
          case "regex" ->
              new ProxyHandler.Reverse(
                  "https?://[^/]+(/.*)?", "http://127.0.0.1:" + backendPort + "$1");
          default ->
              throw new IllegalArgumentException(
                  "rewriter: " + rewriter + " (expected: function or regex)");
        });
    server.start();
    System.out.println("PORT " + connector.getLocalPort());
    System.out.flush();
    server.join();
  }
}
