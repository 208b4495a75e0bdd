package dev.meshlet.l7;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;
import org.slf4j.helpers.NOPLoggerFactory;

/** The access log warns, once, when SLF4J would drop its lines. */
class AccessLogWarningTest {

  @Test
  void warnsOnceWhenSlf4jHasNoProvider() {
    AtomicBoolean warned = new AtomicBoolean();
    assertThat(Ledger.warnIfSwallowed(new NOPLoggerFactory(), warned)).isTrue();
    assertThat(warned).isTrue();
    assertThat(Ledger.warnIfSwallowed(new NOPLoggerFactory(), warned)).isFalse();
  }

  @Test
  void staysQuietWithAProvider() {
    // the tests run with Jetty's SLF4J provider on the classpath
    AtomicBoolean warned = new AtomicBoolean();
    assertThat(Ledger.warnIfSwallowed(LoggerFactory.getILoggerFactory(), warned)).isFalse();
    assertThat(warned).isFalse();
  }
}
