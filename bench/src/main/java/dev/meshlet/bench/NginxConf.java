package dev.meshlet.bench;

import java.nio.file.Path;

/**
 * The nginx configuration the bench phases run nginx with: one worker, no logs, long keep-alive.
 */
final class NginxConf {
  private NginxConf() {}

  /**
   * A whole configuration rooted at {@code dir}, with {@code inner} inside its {@code http} block.
   */
  static String http(Path dir, String inner) {
    return """
        worker_processes 1;
        daemon off;
        master_process off;
        pid %1$s/nginx.pid;
        error_log stderr warn;
        worker_rlimit_nofile 20000;
        events { worker_connections 20000; }
        http {
          access_log off;
          keepalive_timeout 600s;
          keepalive_requests 100000000;
          client_body_temp_path %1$s/body;
          proxy_temp_path %1$s/proxy;
          fastcgi_temp_path %1$s/fastcgi;
          uwsgi_temp_path %1$s/uwsgi;
          scgi_temp_path %1$s/scgi;
        %2$s
        }
        """
        .formatted(dir, inner);
  }
}
