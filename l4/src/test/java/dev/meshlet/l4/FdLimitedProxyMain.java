package dev.meshlet.l4;

import dev.meshlet.core.Backend;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.time.Duration;

/**
 * A proxy in a process of its own, for {@link HardeningTest} to start under a low file descriptor
 * limit: forwards 127.0.0.1:0 to the backend port given as the argument, prints {@code port N},
 * then answers each line read on stdin with {@code stats accepted active acceptFailures noSocket};
 * ends at the end of stdin.
 */
final class FdLimitedProxyMain {
  private FdLimitedProxyMain() {}

  private static String stats(TcpProxy proxy) {
    TcpProxyStats s = proxy.stats();
    return "stats "
        + s.accepted()
        + " "
        + s.active()
        + " "
        + s.acceptFailures()
        + " "
        + s.noSocket();
  }

  public static void main(String[] args) throws Exception {
    try (TcpProxy proxy =
        TcpProxy.builder()
            .listen("127.0.0.1", 0)
            .backends(Backend.of("127.0.0.1", Integer.parseInt(args[0])))
            .drainTimeout(Duration.ZERO)
            .start()) {
      stats(proxy); // loads what answering takes now: no class can be loaded while descriptors are
      // out
      System.out.println("port " + proxy.port());
      System.out.flush();
      BufferedReader in =
          new BufferedReader(new InputStreamReader(System.in, StandardCharsets.US_ASCII));
      while (in.readLine() != null) {
        System.out.println(stats(proxy));
        System.out.flush();
      }
    }
  }
}
