package dev.meshlet.l4;

import static org.assertj.core.api.Assertions.assertThat;

import dev.meshlet.core.Cluster;
import dev.meshlet.core.DnsDiscovery;
import dev.meshlet.testkit.Await;
import dev.meshlet.testkit.DnsServer;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.io.OutputStreamWriter;
import java.io.PrintWriter;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** A TCP proxy whose cluster follows DNS: new connections go where DNS says, open ones stay. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class DnsClusterTest {

  /** Greets each connection with its own name, then echoes lines. */
  private static ServerSocket greeter(String address, int port, String name) throws IOException {
    ServerSocket server = new ServerSocket();
    server.bind(new InetSocketAddress(InetAddress.getByName(address), port));
    Thread.ofVirtual()
        .start(
            () -> {
              while (!server.isClosed()) {
                try {
                  Socket s = server.accept();
                  Thread.ofVirtual().start(() -> greetAndEcho(s, name));
                } catch (IOException closed) {
                  return;
                }
              }
            });
    return server;
  }

  private static void greetAndEcho(Socket s, String name) {
    try (s) {
      PrintWriter out =
          new PrintWriter(
              new OutputStreamWriter(s.getOutputStream(), StandardCharsets.UTF_8), true);
      out.println(name);
      BufferedReader in =
          new BufferedReader(new InputStreamReader(s.getInputStream(), StandardCharsets.UTF_8));
      for (String line; (line = in.readLine()) != null; ) {
        out.println(name + ":" + line);
      }
    } catch (IOException ignored) {
      // the client left
    }
  }

  @Test
  void newConnectionsFollowDnsWhileAnOpenOneStaysOnItsBackend() throws Exception {
    try (ServerSocket two = greeter("127.0.0.2", 0, "two");
        ServerSocket three = greeter("127.0.0.3", two.getLocalPort(), "three");
        DnsServer dns = new DnsServer()) {
      int port = two.getLocalPort();
      dns.a("db.test", 0, "127.0.0.2");
      Cluster db =
          Cluster.builder("db")
              .discovery(
                  DnsDiscovery.hosts("db.test", port)
                      .server(dns.address())
                      .minRefresh(Duration.ofMillis(20))
                      .build())
              .build();
      try (db;
          TcpProxy proxy = TcpProxy.builder().listen("127.0.0.1", 0).cluster(db).start();
          Socket first = new Socket("127.0.0.1", proxy.port())) {
        BufferedReader firstIn = reader(first);
        assertThat(firstIn.readLine()).isEqualTo("two");

        dns.a("db.test", 0, "127.0.0.3");
        Await.until(
            "the cluster follows DNS",
            () ->
                db.endpoints().size() == 1
                    && db.endpoints().get(0).backend().host().equals("127.0.0.3"));
        try (Socket second = new Socket("127.0.0.1", proxy.port())) {
          assertThat(reader(second).readLine()).isEqualTo("three");
        }
        // the connection opened before the change still talks to its backend
        OutputStream out = first.getOutputStream();
        out.write("still here\n".getBytes(StandardCharsets.UTF_8));
        out.flush();
        assertThat(firstIn.readLine()).isEqualTo("two:still here");
      }
    }
  }

  private static BufferedReader reader(Socket s) throws IOException {
    s.setSoTimeout(10_000);
    return new BufferedReader(new InputStreamReader(s.getInputStream(), StandardCharsets.UTF_8));
  }
}
