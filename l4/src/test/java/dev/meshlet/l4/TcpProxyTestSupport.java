package dev.meshlet.l4;

import dev.meshlet.core.Backend;
import dev.meshlet.testkit.EchoServer;
import dev.meshlet.testkit.Resources;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.Socket;
import org.junit.jupiter.api.AutoClose;

/** Backends, proxies and sockets for the TCP proxy's tests, closed after each test. */
abstract class TcpProxyTestSupport {
  static final InetAddress LOOPBACK = InetAddress.getLoopbackAddress();

  @AutoClose final Resources resources = new Resources();

  EchoServer echo() {
    return resources.track(EchoServer.start());
  }

  static Backend backend(EchoServer s) {
    return Backend.of("127.0.0.1", s.port());
  }

  TcpProxyBuilder proxyTo(EchoServer... servers) {
    TcpProxyBuilder b = TcpProxy.builder().listen("127.0.0.1", 0);
    for (EchoServer s : servers) {
      b.backends(backend(s));
    }
    return b;
  }

  TcpProxy start(TcpProxyBuilder b) throws IOException {
    return resources.track(b.start());
  }

  Socket connect(TcpProxy proxy) throws IOException {
    Socket s = resources.track(new Socket(LOOPBACK, proxy.port()));
    s.setSoTimeout(10_000);
    return s;
  }

  static String readLine(Socket s) throws IOException {
    StringBuilder line = new StringBuilder();
    InputStream in = s.getInputStream();
    int c;
    while ((c = in.read()) != -1 && c != '\n') {
      line.append((char) c);
    }
    return line.toString();
  }
}
