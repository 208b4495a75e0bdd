package dev.meshlet.l7;

import dev.meshlet.core.ServerTls;
import dev.meshlet.core.TlsIdentity;
import dev.meshlet.core.TlsTrust;
import java.io.IOException;
import java.nio.file.ClosedWatchServiceException;
import java.nio.file.FileSystems;
import java.nio.file.Path;
import java.nio.file.StandardWatchEventKinds;
import java.nio.file.WatchEvent;
import java.nio.file.WatchKey;
import java.nio.file.WatchService;
import java.util.HashSet;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Watches the files a proxy's {@link ServerTls} was read from and hands the reload to the proxy
 * when one changes. Writes come in bursts (a certificate and its key, an editor's temp file and
 * rename): a reload waits until the directory has been quiet for {@link #SETTLE_MILLIS}.
 */
final class TlsFileWatch implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(HttpProxy.class);
  private static final long SETTLE_MILLIS = 200;

  private final WatchService watch;
  private final Set<Path> files = new HashSet<>();
  private final Thread thread;

  private TlsFileWatch(WatchService watch, Set<Path> dirs, Runnable reload, String name)
      throws IOException {
    this.watch = watch;
    for (Path dir : dirs) {
      dir.register(
          watch,
          StandardWatchEventKinds.ENTRY_CREATE,
          StandardWatchEventKinds.ENTRY_MODIFY,
          StandardWatchEventKinds.ENTRY_DELETE);
    }
    this.thread = Thread.ofPlatform().daemon().name(name).unstarted(() -> run(reload));
  }

  /**
   * Starts watching {@code tls}'s files, or returns null when it was read from none; {@code reload}
   * runs on the watch's thread after a change.
   */
  static @Nullable TlsFileWatch start(ServerTls tls, Runnable reload, int port) throws IOException {
    Set<Path> files = new HashSet<>();
    for (TlsIdentity id : tls.identities()) {
      id.files().forEach(f -> files.add(f.toAbsolutePath()));
    }
    TlsTrust trust = tls.clientTrust();
    if (trust != null && trust.file() != null) {
      files.add(trust.file().toAbsolutePath());
    }
    if (files.isEmpty()) {
      return null;
    }
    Set<Path> dirs = new HashSet<>();
    files.forEach(f -> dirs.add(f.getParent()));
    WatchService ws = FileSystems.getDefault().newWatchService();
    try {
      TlsFileWatch w = new TlsFileWatch(ws, dirs, reload, "meshlet-l7-tls-watch-" + port);
      w.files.addAll(files);
      w.thread.start();
      return w;
    } catch (IOException | RuntimeException e) {
      ws.close();
      throw e;
    }
  }

  private void run(Runnable reload) {
    try {
      while (true) {
        if (!relevant(watch.take())) {
          continue;
        }
        // let the burst of writes end before reading the files
        for (WatchKey k = watch.poll(SETTLE_MILLIS, TimeUnit.MILLISECONDS);
            k != null;
            k = watch.poll(SETTLE_MILLIS, TimeUnit.MILLISECONDS)) {
          relevant(k);
        }
        try {
          reload.run();
        } catch (RuntimeException e) {
          LOG.warn(
              "TLS files changed but do not read; keeping the certificates in use: {}",
              e.getMessage());
        }
      }
    } catch (InterruptedException | ClosedWatchServiceException e) {
      // closed
    }
  }

  /** Whether {@code key}'s events touch a watched file; re-arms the key. */
  private boolean relevant(WatchKey key) {
    boolean hit = false;
    Path dir = (Path) key.watchable();
    for (WatchEvent<?> e : key.pollEvents()) {
      if (e.context() instanceof Path p && files.contains(dir.resolve(p).toAbsolutePath())) {
        hit = true;
      } else if (e.kind() == StandardWatchEventKinds.OVERFLOW) {
        hit = true;
      }
    }
    key.reset();
    return hit;
  }

  @Override
  public void close() {
    try {
      watch.close();
    } catch (IOException e) {
      LOG.debug("closing the TLS file watch", e);
    }
    try {
      thread.join(TimeUnit.SECONDS.toMillis(5));
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
