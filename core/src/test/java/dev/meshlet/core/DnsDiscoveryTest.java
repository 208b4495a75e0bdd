package dev.meshlet.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.meshlet.core.internal.Lease;
import dev.meshlet.testkit.Await;
import dev.meshlet.testkit.DnsServer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

@Timeout(value = 60, unit = TimeUnit.SECONDS)
class DnsDiscoveryTest {
  private DnsServer dns;

  @BeforeEach
  void start() throws IOException {
    dns = new DnsServer();
  }

  @AfterEach
  void stop() throws IOException {
    dns.close();
  }

  private DnsDiscovery.Builder hosts(String name) {
    return DnsDiscovery.hosts(name, 8080)
        .server(dns.address())
        .minRefresh(Duration.ofMillis(20))
        .maxRefresh(Duration.ofSeconds(30))
        .timeout(Duration.ofMillis(500));
  }

  private static List<String> authorities(Cluster c) {
    return c.endpoints().stream().map(e -> e.backend().authority()).toList();
  }

  @Test
  void theClusterStartsWithTheAnswerAndFollowsChangesKeepingEndpointsThatStay() throws Exception {
    dns.a("api.test", 0, "127.0.0.1", "127.0.0.2");
    DnsDiscovery discovery = hosts("api.test").build();
    try (Cluster c = Cluster.builder("api").discovery(discovery).build()) {
      assertThat(authorities(c)).containsExactly("127.0.0.1:8080", "127.0.0.2:8080");
      Endpoint staying = c.endpoints().get(0);
      try (Lease lease = Lease.begin(staying)) { // counted on the endpoint: kept by the update
        assertThat(lease).isNotNull();
      }

      dns.a("api.test", 0, "127.0.0.1", "127.0.0.3");
      Await.until(
          "the cluster follows DNS",
          () -> authorities(c).equals(List.of("127.0.0.1:8080", "127.0.0.3:8080")));
      assertThat(c.endpoints().get(0)).isSameAs(staying);
      assertThat(staying.stats().total()).isEqualTo(1);
      assertThat(discovery.stats().changes()).isEqualTo(2);
      assertThat(discovery.stats().backends()).isEqualTo(2);
    }
  }

  @Test
  void aFailingServerChangesNothingAndTheClusterRecoversWhenItAnswersAgain() throws Exception {
    dns.a("api.test", 0, "127.0.0.1");
    DnsDiscovery discovery = hosts("api.test").build();
    try (Cluster c = Cluster.builder("api").discovery(discovery).build()) {
      dns.mode(DnsServer.Mode.SERVFAIL);
      Await.until("a lookup fails", () -> discovery.stats().failures() >= 2);
      assertThat(authorities(c)).containsExactly("127.0.0.1:8080");
      assertThat(discovery.stats().lastError()).contains("SERVFAIL");

      dns.a("api.test", 0, "127.0.0.4");
      dns.mode(DnsServer.Mode.NORMAL);
      Await.until(
          "the cluster follows DNS again", () -> authorities(c).equals(List.of("127.0.0.4:8080")));

      dns.a("api.test", 0); // no record: not "no backends"
      int lookups = dns.questions();
      Await.until("a lookup finds nothing", () -> dns.questions() > lookups + 2);
      assertThat(authorities(c)).containsExactly("127.0.0.4:8080");
      assertThat(discovery.stats().lastError()).contains("no address record");
    }
  }

  @Test
  void aSilentServerTimesOutTheFirstLookupAndTheClusterStartsEmpty() {
    dns.mode(DnsServer.Mode.SILENT);
    DnsDiscovery discovery = hosts("api.test").timeout(Duration.ofMillis(100)).build();
    long t0 = System.nanoTime();
    try (Cluster c = Cluster.builder("api").discovery(discovery).build()) {
      assertThat(Duration.ofNanos(System.nanoTime() - t0)).isLessThan(Duration.ofSeconds(10));
      assertThat(c.endpoints()).isEmpty();
      assertThat(discovery.stats().failures()).isGreaterThanOrEqualTo(1);
      assertThat(discovery.stats().lastError()).contains("no answer");
    }
  }

  @Test
  void aTruncatedAnswerIsAskedAgainOverTcp() throws Exception {
    dns.a("api.test", 60, "127.0.0.5", "127.0.0.6");
    dns.mode(DnsServer.Mode.TRUNCATE_UDP);
    try (Cluster c = Cluster.builder("api").discovery(hosts("api.test").build()).build()) {
      assertThat(authorities(c)).containsExactly("127.0.0.5:8080", "127.0.0.6:8080");
    }
  }

  @Test
  void theTtlSpacesLookupsBetweenTheFloorAndTheCeiling() throws Exception {
    dns.a("long.test", 3600, "127.0.0.1");
    DnsDiscovery ceiling =
        hosts("long.test")
            .minRefresh(Duration.ofMillis(10))
            .maxRefresh(Duration.ofMillis(50))
            .build();
    try (Cluster c = Cluster.builder("a").discovery(ceiling).build()) {
      // a TTL of an hour, but the ceiling of 50 ms makes lookups come anyway
      Await.until("lookups at the ceiling", () -> ceiling.stats().lookups() >= 4);
    }
    dns.a("short.test", 0, "127.0.0.1");
    DnsDiscovery floor =
        hosts("short.test")
            .minRefresh(Duration.ofSeconds(30))
            .maxRefresh(Duration.ofMinutes(1))
            .build();
    try (Cluster c = Cluster.builder("b").discovery(floor).build()) {
      long t0 = System.nanoTime();
      Await.until(
          "some time passes", Duration.ofSeconds(5), () -> System.nanoTime() - t0 > 300_000_000L);
      // a TTL of zero, but the floor of 30 s: the first lookup is the only one
      assertThat(floor.stats().lookups()).isEqualTo(1);
    }
  }

  @Test
  void srvTargetsOfTheLowestPriorityBecomeBackendsWithTheirPortsAndWeights() throws Exception {
    dns.srv(
        "_http._tcp.api.test",
        DnsServer.srvRecord(60, 10, 3, 9001, "a.api.test"),
        DnsServer.srvRecord(60, 10, 0, 9002, "b.api.test"),
        DnsServer.srvRecord(60, 20, 5, 9003, "c.api.test"));
    dns.a("a.api.test", 60, "127.0.0.1");
    dns.a("b.api.test", 60, "127.0.0.2");
    dns.a("c.api.test", 60, "127.0.0.3");
    DnsDiscovery discovery = DnsDiscovery.srv("_http._tcp.api.test").server(dns.address()).build();
    try (Cluster c = Cluster.builder("api").discovery(discovery).build()) {
      assertThat(c.endpoints())
          .extracting(e -> e.backend().authority() + "/" + e.backend().weight())
          .containsExactly("127.0.0.1:9001/3", "127.0.0.2:9002/1");
    }
  }

  @Test
  void closingTheClusterStopsTheLookups() throws Exception {
    dns.a("api.test", 0, "127.0.0.1");
    DnsDiscovery discovery = hosts("api.test").build();
    Cluster c = Cluster.builder("api").discovery(discovery).build();
    Await.until("lookups repeat", () -> discovery.stats().lookups() >= 3);
    c.close();
    long after = discovery.stats().lookups();
    int questions = dns.questions();
    dns.a("api.test", 0, "127.0.0.9");
    // a lookup in flight when close() began may finish; none starts after close() returned
    assertThat(discovery.stats().lookups()).isLessThanOrEqualTo(after);
    assertThat(dns.questions()).isLessThanOrEqualTo(questions + 1);
    assertThat(authorities(c)).containsExactly("127.0.0.1:8080");
    c.close(); // idempotent
  }

  @Test
  void badOptionsAreRefusedNamingTheOption(@TempDir Path dir) throws IOException {
    assertThatThrownBy(() -> DnsDiscovery.hosts("api..test", 80)).hasMessageContaining("DNS name");
    assertThatThrownBy(() -> DnsDiscovery.hosts("api.test", 0)).hasMessageContaining("port: 0");
    assertThatThrownBy(
            () ->
                DnsDiscovery.hosts("api.test", 80)
                    .minRefresh(Duration.ofSeconds(10))
                    .maxRefresh(Duration.ofSeconds(1))
                    .server(dns.address())
                    .build())
        .hasMessageContaining("minRefresh");
    Path conf = dir.resolve("resolv.conf");
    Files.writeString(conf, "search example.com\n");
    assertThatThrownBy(() -> DnsDiscovery.systemServer(conf)).hasMessageContaining("names none");
    Files.writeString(conf, "# x\nnameserver 10.1.2.3\nnameserver 10.9.9.9\n");
    assertThat(DnsDiscovery.systemServer(conf).getAddress().getHostAddress()).isEqualTo("10.1.2.3");
  }

  @Test
  void replaceBackendsRefusesTheSameAddressTwice() {
    Cluster c = Cluster.of("x", Backend.of("127.0.0.1", 1));
    assertThatThrownBy(
            () ->
                c.replaceBackends(List.of(Backend.of("127.0.0.1", 2), Backend.of("127.0.0.1", 2))))
        .hasMessageContaining("listed twice");
    assertThat(c.replaceBackends(List.of(Backend.of("127.0.0.1", 1)))).isFalse();
    assertThat(c.replaceBackends(List.of(Backend.of("127.0.0.1", 2)))).isTrue();
    assertThat(authorities(c)).containsExactly("127.0.0.1:2");
  }
}
