package dev.meshlet.bench;

import java.io.BufferedInputStream;
import java.io.BufferedReader;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * Child role {@code hold <port> <count>}: opens {@code count} connections, makes one GET on each
 * (so the proxy has connected to the backend and both directions are set up), then holds them all
 * idle. Prints {@code HELD n}; closes them all at the end of stdin.
 */
final class HoldClient {
  private HoldClient() {}

  static void main(String[] args) throws Exception {
    int port = Integer.parseInt(args[0]);
    int count = Integer.parseInt(args[1]);
    List<Socket> held = new ArrayList<>(count);
    StringBuilder line = new StringBuilder(256);
    int failed = 0;
    for (int i = 0; i < count; i++) {
      Socket s = new Socket();
      try {
        s.setTcpNoDelay(true);
        s.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 5000);
        s.setSoTimeout(10_000);
        s.getOutputStream().write(Http.GET);
        InputStream in = new BufferedInputStream(s.getInputStream(), 512);
        if (Http.readResponse(in, line) != 200) {
          failed++;
        }
        held.add(s);
      } catch (Exception e) {
        failed++;
        s.close();
        if (failed == 1) {
          System.err.println("hold: connection " + i + " failed: " + e);
        }
      }
    }
    System.out.println("HELD " + held.size() + " " + failed);
    System.out.flush();
    new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8))
        .lines()
        .forEach(l -> {});
    for (Socket s : held) {
      s.close();
    }
    System.exit(0);
  }
}
