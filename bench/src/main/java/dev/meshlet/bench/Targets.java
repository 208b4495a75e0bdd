package dev.meshlet.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.jspecify.annotations.Nullable;

/**
 * The processes the harness measures and the backend they forward to: meshlet's proxies, the peers
 * given with {@code --peer}, and nginx answering "ok".
 */
final class Targets {
  private final Options o;
  private final Path work;
  private @Nullable Proc nginx;
  private int nginxPort;

  Targets(Options o, Path work) {
    this.o = o;
    this.work = work;
  }

  /** The nginx backend's port, once {@link #startNginx()} ran. */
  int nginxPort() {
    return nginxPort;
  }

  /** Something wrk can point at: the backend itself (direct) or a proxy in front of it. */
  record Target(String name, String layer, int port, @Nullable Proc proc, boolean meshlet) {
    void stop() {
      if (proc != null) {
        if (meshlet) {
          proc.close();
        } else {
          proc.terminate();
        }
      }
    }
  }

  Target meshlet(String layer, int backendPort, String cpu) {
    Proc p =
        Proc.role(
            "meshlet-" + layer,
            Proc.pinned(
                cpu, Proc.javaRole(o.proxyJvm, "proxy", layer, String.valueOf(backendPort))));
    int port = Integer.parseInt(p.expect("PORT ", Duration.ofSeconds(30)));
    Proc.awaitPort(port, Duration.ofSeconds(10));
    return new Target("meshlet " + layer.toUpperCase(Locale.ROOT), layer, port, p, true);
  }

  Target peer(Options.Peer peer, int backendPort, String cpu) {
    int port = Proc.freePort();
    String cmd =
        peer.command()
            .replace("{port}", String.valueOf(port))
            .replace("{backend_port}", String.valueOf(backendPort));
    Proc p =
        Proc.external(
            peer.name(),
            Proc.pinned(cpu, List.of("sh", "-c", "exec " + cmd)),
            Map.of(
                "LISTEN_PORT", String.valueOf(port), "BACKEND_PORT", String.valueOf(backendPort)),
            work.resolve(peer.name() + "-" + peer.layer() + ".log"));
    Proc.awaitPort(port, Duration.ofSeconds(10));
    return new Target(
        peer.name() + " " + peer.layer().toUpperCase(Locale.ROOT), peer.layer(), port, p, false);
  }

  List<Target> proxies(int backendPort, String cpu, boolean l4, boolean l7) {
    List<Target> t = new ArrayList<>();
    if (l4) {
      t.add(meshlet("l4", backendPort, cpu));
    }
    if (l7 && o.l7 && L7Role.available()) {
      t.add(meshlet("l7", backendPort, cpu));
    }
    for (Options.Peer p : o.peers) {
      if ((p.layer().equals("l4") && l4) || (p.layer().equals("l7") && l7)) {
        t.add(peer(p, backendPort, cpu));
      }
    }
    return t;
  }

  void startNginx() throws IOException {
    nginxPort = Proc.freePort();
    Path dir = work.resolve("nginx");
    Files.createDirectories(dir.resolve("logs"));
    String conf =
        """
        worker_processes 1;
        daemon off;
        master_process off;
        pid %1$s/nginx.pid;
        error_log stderr warn;
        worker_rlimit_nofile 20000;
        events { worker_connections 20000; multi_accept on; }
        http {
          access_log off;
          keepalive_timeout 600s;
          keepalive_requests 100000000;
          client_body_temp_path %1$s/body;
          proxy_temp_path %1$s/proxy;
          fastcgi_temp_path %1$s/fastcgi;
          uwsgi_temp_path %1$s/uwsgi;
          scgi_temp_path %1$s/scgi;
          server {
            listen 127.0.0.1:%2$d backlog=4096;
            location / { return 200 "ok"; }
          }
        }
        """
            .formatted(dir, nginxPort);
    Files.writeString(dir.resolve("nginx.conf"), conf);
    nginx =
        Proc.external(
            "nginx",
            Proc.pinned(
                o.cpu,
                List.of("nginx", "-p", dir + "/", "-c", dir.resolve("nginx.conf").toString())),
            Map.of(),
            work.resolve("nginx.log"));
    Proc.awaitPort(nginxPort, Duration.ofSeconds(10));
  }

  void stopNginx() {
    if (nginx != null) {
      nginx.terminate();
      nginx = null;
    }
  }
}
