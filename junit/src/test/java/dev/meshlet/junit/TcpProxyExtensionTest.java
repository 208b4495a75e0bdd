package dev.meshlet.junit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.platform.engine.discovery.DiscoverySelectors.selectClass;

import dev.meshlet.core.Backend;
import dev.meshlet.l4.TcpProxy;
import dev.meshlet.l4.TcpProxyBuilder;
import dev.meshlet.l4.Toxic;
import dev.meshlet.testkit.EchoServer;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AutoClose;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.platform.engine.TestExecutionResult;
import org.junit.platform.testkit.engine.EngineTestKit;
import org.junit.platform.testkit.engine.Events;

/** The extension's lifecycle, run on small example classes through JUnit's test kit. */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class TcpProxyExtensionTest {
  static final List<Integer> ports = new CopyOnWriteArrayList<>();
  @AutoClose static final EchoServer backend = EchoServer.start();

  static TcpProxyBuilder proxyToBackend() {
    return TcpProxy.builder()
        .listen("127.0.0.1", 0)
        .backends(Backend.of("127.0.0.1", backend.port()));
  }

  private static Events run(Class<?> example) {
    ports.clear();
    return EngineTestKit.engine("junit-jupiter")
        .selectors(selectClass(example))
        .execute()
        .testEvents();
  }

  private static boolean bindable(int port) {
    try (ServerSocket s = new ServerSocket()) {
      s.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), port));
      return true;
    } catch (IOException e) {
      return false;
    }
  }

  static class FailingExample {
    @RegisterExtension
    static final TcpProxyExtension proxy =
        TcpProxyExtension.create(() -> proxyToBackend().seed(0xBEEFL));

    @Test
    void fails() {
      proxy.toxics().add("slow", Toxic.latency(Duration.ofMillis(1)));
      throw new AssertionError("the client under test misbehaved");
    }
  }

  @Test
  void aFailureCarriesTheSeedAndTheJournal() {
    Events events = run(FailingExample.class);
    events.assertStatistics(s -> s.failed(1));
    Throwable failure =
        events
            .failed()
            .list()
            .get(0)
            .getPayload(TestExecutionResult.class)
            .orElseThrow()
            .getThrowable()
            .orElseThrow();
    assertThat(failure).hasMessage("the client under test misbehaved");
    assertThat(failure.getSuppressed()).hasSize(1);
    assertThat(failure.getSuppressed()[0].getMessage())
        .contains("seed(0xbeefL)")
        .contains("slow")
        .contains("journal");
  }

  static class PerClassExample {
    @RegisterExtension
    static final TcpProxyExtension proxy =
        TcpProxyExtension.create(TcpProxyExtensionTest::proxyToBackend);

    @Test
    void one(@MeshletProxy int port) {
      ports.add(port);
    }

    @Test
    void two(@MeshletProxy int port) {
      ports.add(port);
    }
  }

  @Test
  void aStaticProxyServesTheWholeClassAndIsClosedAfterIt() {
    run(PerClassExample.class).assertStatistics(s -> s.succeeded(2).failed(0));
    assertThat(ports).hasSize(2);
    assertThat(ports.get(0)).isEqualTo(ports.get(1));
    assertThat(bindable(ports.get(0))).as("port free after the class").isTrue();
  }

  static class PerTestExample {
    @RegisterExtension
    final TcpProxyExtension proxy = TcpProxyExtension.create(TcpProxyExtensionTest::proxyToBackend);

    @Test
    void one(TcpProxy injected) {
      ports.add(injected.port());
    }

    @Test
    void two(TcpProxy injected) {
      ports.add(injected.port());
    }
  }

  @Test
  void anInstanceFieldGivesEachTestAFreshProxy() {
    run(PerTestExample.class).assertStatistics(s -> s.succeeded(2).failed(0));
    assertThat(ports).hasSize(2).doesNotHaveDuplicates();
    assertThat(ports).allMatch(TcpProxyExtensionTest::bindable);
  }

  @TestMethodOrder(MethodOrderer.OrderAnnotation.class)
  static class BuilderToxicsExample {
    @RegisterExtension
    static final TcpProxyExtension proxy =
        TcpProxyExtension.create(
            () -> proxyToBackend().toxic("declared", Toxic.latency(Duration.ofMillis(1))));

    @Test
    @Order(1)
    void addsOne() {
      proxy.toxics().add("added", Toxic.bandwidth(10));
      proxy.toxics().remove("declared");
    }

    @Test
    @Order(2)
    void seesOnlyTheDeclaredOne() {
      assertThat(proxy.toxics().list()).containsOnlyKeys("declared");
    }
  }

  @Test
  void betweenTestsTheToxicsAreResetToThoseTheBuilderDeclared() {
    run(BuilderToxicsExample.class).assertStatistics(s -> s.succeeded(2).failed(0));
  }

  static class TwoProxiesExample {
    @RegisterExtension
    static final TcpProxyExtension db =
        TcpProxyExtension.create(TcpProxyExtensionTest::proxyToBackend).named("db");

    @RegisterExtension
    static final TcpProxyExtension cache =
        TcpProxyExtension.create(TcpProxyExtensionTest::proxyToBackend).named("cache");

    @Test
    void both(@MeshletProxy("db") int dbPort, @MeshletProxy("cache") int cachePort) {
      ports.add(dbPort);
      ports.add(cachePort);
      assertThat(dbPort).isEqualTo(db.port());
      assertThat(cachePort).isEqualTo(cache.port());
    }
  }

  @Test
  void namesTellSeveralProxiesApart() {
    run(TwoProxiesExample.class).assertStatistics(s -> s.succeeded(1).failed(0));
    assertThat(ports).hasSize(2).doesNotHaveDuplicates();
  }
}
