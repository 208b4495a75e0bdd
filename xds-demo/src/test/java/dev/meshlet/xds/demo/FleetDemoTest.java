package dev.meshlet.xds.demo;

import static org.assertj.core.api.Assertions.assertThat;

import dev.meshlet.xds.XdsClient;
import dev.meshlet.xds.XdsStatus;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The demo's rollout, as {@code java -jar} runs it, reaches all three proxies. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class FleetDemoTest {
  @Test
  void routeChangeReachesEveryProxy() throws Exception {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    try (Fleet fleet = new Fleet(3);
        PrintStream out = new PrintStream(bytes, true, StandardCharsets.UTF_8)) {
      assertThat(FleetDemo.rollout(fleet, out)).as(bytes.toString(StandardCharsets.UTF_8)).isTrue();
      assertThat(fleet.proxies).hasSize(3);
      for (XdsClient x : fleet.proxies) {
        assertThat(x.status().version(XdsStatus.ROUTE)).isEqualTo("2");
        assertThat(x.status().nacks()).isZero();
      }
    }
    String printed = bytes.toString(StandardCharsets.UTF_8);
    assertThat(printed)
        .contains("RDS version 2 on all proxies after")
        .contains("-> [200 v2 /hello");
    assertThat(printed.lines().filter(l -> l.contains("LDS 2 RDS 2 CDS 2 EDS 2")).count())
        .isEqualTo(3);
  }
}
