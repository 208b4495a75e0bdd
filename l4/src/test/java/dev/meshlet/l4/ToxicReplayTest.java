package dev.meshlet.l4;

import static org.assertj.core.api.Assertions.assertThat;

import dev.meshlet.core.Backend;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The faults a seed gives are the same run after run, for new connections and for open ones alike. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class ToxicReplayTest {
  private static final long SEED = 0x5EEDL;
  private static final int CONNECTIONS = 16;
  private final List<AutoCloseable> resources = new ArrayList<>();

  @AfterEach
  void tearDown() throws Exception {
    for (int i = resources.size() - 1; i >= 0; i--) {
      resources.get(i).close();
    }
  }

  @Test
  void aToxicAddedToOpenConnectionsHitsTheSameOrdinalsForTheSameSeed() throws Exception {
    TestServer backend = TestServer.echo();
    resources.add(backend);
    Set<Long> first = null;
    for (int run = 0; run < 4; run++) {
      for (int proxyNo = 0; proxyNo < 2; proxyNo++) {
        Set<Long> hit = hitByToxicAddedWhileOpen(backend);
        if (first == null) {
          first = hit;
          // with this seed the draw splits the connections: a visiting order would show in the set
          assertThat(hit).as("connections hit").isNotEmpty().hasSizeLessThan(CONNECTIONS);
        }
        assertThat(hit).as("connections hit, run %d, proxy %d", run, proxyNo).isEqualTo(first);
      }
    }
  }

  /** Opens the connections one by one, then adds a toxic with toxicity 0.5: the connections it applies to. */
  private Set<Long> hitByToxicAddedWhileOpen(TestServer backend) throws Exception {
    try (TcpProxy proxy = TcpProxy.builder().listen("127.0.0.1", 0).seed(SEED)
        .backends(Backend.of("127.0.0.1", backend.port())).drainTimeout(Duration.ZERO).start()) {
      List<Socket> clients = new ArrayList<>();
      try {
        for (int i = 0; i < CONNECTIONS; i++) {
          Socket s = new Socket();
          clients.add(s);
          s.connect(new InetSocketAddress("127.0.0.1", proxy.port()), 5000);
          s.setSoTimeout(5000);
          s.getOutputStream().write('x'); // spliced, so accepted in this order
          assertThat(s.getInputStream().read()).isEqualTo('x');
        }
        proxy.awaitConnections(CONNECTIONS, Duration.ofSeconds(10));
        proxy.toxics().add("half", Toxic.latency(Duration.ofMillis(1)).downstream().toxicity(0.5));
        Set<Long> hit = new TreeSet<>();
        for (TcpEvent.ToxicApplied applied : proxy.journal().entries(TcpEvent.ToxicApplied.class)) {
          hit.add(applied.connection());
        }
        return hit;
      } finally {
        for (Socket s : clients) {
          s.close();
        }
      }
    }
  }
}
