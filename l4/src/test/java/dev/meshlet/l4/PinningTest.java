package dev.meshlet.l4;

import static org.assertj.core.api.Assertions.assertThat;

import dev.meshlet.core.Backend;
import dev.meshlet.testkit.EchoServer;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import jdk.jfr.Recording;
import jdk.jfr.consumer.RecordedEvent;
import jdk.jfr.consumer.RecordingFile;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The splice must never pin a carrier thread: JFR's jdk.VirtualThreadPinned events would show it.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class PinningTest {

  @Test
  void splicingConnectionsPinsNoCarrierThread() throws Exception {
    Path file = Files.createTempFile("meshlet-pinning", ".jfr");
    try (EchoServer echo = EchoServer.start();
        Recording recording = new Recording()) {
      recording.enable("jdk.VirtualThreadPinned").withThreshold(Duration.ZERO).withStackTrace();
      recording.start();
      try (TcpProxy proxy =
          TcpProxy.builder()
              .listen("127.0.0.1", 0)
              .backends(Backend.of("127.0.0.1", echo.port()))
              .idleTimeout(Duration.ofSeconds(30))
              .start()) {
        for (int i = 0; i < 50; i++) {
          try (Socket s = new Socket(InetAddress.getLoopbackAddress(), proxy.port())) {
            s.setSoTimeout(10_000);
            OutputStream out = s.getOutputStream();
            InputStream in = s.getInputStream();
            out.write(new byte[2000]); // past the small buffer: borrows a pooled one
            assertThat(in.readNBytes(2000)).hasSize(2000);
            s.shutdownOutput();
            assertThat(in.read()).isEqualTo(-1);
          }
        }
      }
      recording.stop();
      recording.dump(file);
      List<RecordedEvent> pinned =
          RecordingFile.readAllEvents(file).stream()
              .filter(e -> e.getEventType().getName().equals("jdk.VirtualThreadPinned"))
              // A virtual thread that waits while another thread runs a class's static initializer
              // is
              // pinned once by the JVM (JDK 25 reports it as "Waited for initialization of ...");
              // that is
              // class loading, not a lock in meshlet, and it happened on CI for a JFR-internal
              // class.
              .filter(e -> !String.valueOf(pinnedReason(e)).startsWith("Waited for initialization"))
              .filter(
                  e ->
                      e.getStackTrace() != null
                          && e.getStackTrace().getFrames().stream()
                              .anyMatch(
                                  f -> f.getMethod().getType().getName().startsWith("dev.meshlet")))
              .toList();
      assertThat(pinned).as("pinned events in meshlet code").isEmpty();
    } finally {
      Files.deleteIfExists(file);
    }
  }

  /** The event's pinnedReason field (JDK 24+), or null on JDK 21 where the field does not exist. */
  private static @Nullable String pinnedReason(RecordedEvent e) {
    return e.hasField("pinnedReason") ? e.getString("pinnedReason") : null;
  }
}
