package dev.meshlet.bench;

import org.eclipse.jetty.proxy.ProxyHandler;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;

/**
 * Peer role: Jetty 12's own {@code ProxyHandler.Reverse} with its defaults, forwarding everything
 * to one backend on loopback, so issue 3's "beat Jetty's ProxyHandler" is measured in the same run.
 *
 * <p>Usage: {@code jetty-proxy <backend port> <listen port>}; runs until the process is killed. As
 * a harness peer: {@code --peer 'jetty=l7:java -cp bench/target/meshlet-bench.jar
 * dev.meshlet.bench.Main jetty-proxy $BACKEND_PORT $LISTEN_PORT'}.
 */
final class JettyProxyRole {
  private JettyProxyRole() {}

  static void main(String[] args) throws Exception {
    if (args.length < 2) {
      throw new IllegalArgumentException("usage: jetty-proxy <backend port> <listen port>");
    }
    int backendPort = Integer.parseInt(args[0]);
    int listenPort = Integer.parseInt(args[1]);
    Server server = new Server();
    ServerConnector connector = new ServerConnector(server);
    connector.setHost("127.0.0.1");
    connector.setPort(listenPort);
    server.addConnector(connector);
    server.setHandler(
        new ProxyHandler.Reverse("https?://[^/]+(/.*)?", "http://127.0.0.1:" + backendPort + "$1"));
    server.start();
    System.out.println("PORT " + connector.getLocalPort());
    System.out.flush();
    server.join();
  }
}
