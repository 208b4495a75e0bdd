package dev.meshlet.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

class BackendTest {

  @Test
  void parsesHostAndPort() {
    assertThat(Backend.parse("127.0.0.1:8080")).isEqualTo(Backend.of("127.0.0.1", 8080));
    assertThat(Backend.parse(" example.com:443 ")).isEqualTo(Backend.of("example.com", 443));
    assertThat(Backend.parse("[::1]:9000").host()).isEqualTo("::1");
    assertThat(Backend.parse("[::1]:9000").authority()).isEqualTo("[::1]:9000");
  }

  @Test
  void parseErrorsSayWhatToFix() {
    assertThatThrownBy(() -> Backend.parse("localhost"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("'localhost'")
        .hasMessageContaining("host:port");
    assertThatThrownBy(() -> Backend.parse("localhost:http"))
        .hasMessageContaining("port 'http' is not a number");
    assertThatThrownBy(() -> Backend.parse("localhost:70000"))
        .hasMessageContaining("70000 out of range");
    assertThatThrownBy(() -> Backend.parse(":80")).hasMessageContaining("expected host:port");
    assertThatThrownBy(() -> Backend.parse("::1:80")).hasMessageContaining("needs brackets");
  }

  @Test
  void validatesFields() {
    assertThatThrownBy(() -> Backend.of("h", 0)).hasMessage("port: 0 (expected: 1-65535)");
    assertThatThrownBy(() -> Backend.of("h", 1).withWeight(0))
        .hasMessage("weight: 0 (expected: 1-10000)");
    assertThatThrownBy(() -> Backend.of(" ", 1)).hasMessageContaining("host: empty");
    assertThat(Backend.of("h", 1).withName("a").withWeight(3).displayName()).isEqualTo("a");
    assertThat(Backend.of("h", 1).withWeight(3).toString()).isEqualTo("h:1 weight=3");
  }
}
