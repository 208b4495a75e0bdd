package dev.meshlet.l7;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The request head routes look at, as a test builds it. */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class RequestHeadTest {

  @Test
  void theTargetGivesARawAndADecodedNormalizedPathAndTheRawQuery() {
    RequestHead h = RequestHead.builder("GET", "/a/%62/../c%20d?x=1&y=a+b").build();
    assertThat(h.method()).isEqualTo("GET");
    assertThat(h.path())
        .as("unreserved decoded, dot segments resolved, a space stays encoded")
        .isEqualTo("/a/c%20d");
    assertThat(RequestHead.builder("GET", "/a%2fb").build().path())
        .as("an encoded slash is no separator")
        .isEqualTo("/a%2Fb");
    assertThat(h.rawPath()).isEqualTo("/a/%62/../c%20d");
    assertThat(h.rawQuery()).isEqualTo("x=1&y=a+b");
    assertThat(RequestHead.builder("GET", "/").build().rawQuery()).isNull();
  }

  @Test
  void headersAreCaseInsensitiveAndKeepEveryValueInOrder() {
    RequestHead h =
        RequestHead.builder("GET", "/")
            .header("Accept", "text/html")
            .header("X-Id", "1")
            .header("x-id", "2, 3")
            .build();
    assertThat(h.header("accept")).isEqualTo("text/html");
    assertThat(h.header("X-ID")).isEqualTo("1");
    assertThat(h.headers("X-Id")).containsExactly("1", "2, 3");
    assertThat(h.header("X-None")).isNull();
    assertThat(h.headers("X-None")).isEmpty();
    assertThatThrownBy(() -> h.headers("X-Id").add("4"))
        .isInstanceOf(UnsupportedOperationException.class);
  }

  @Test
  void theHostDropsThePortAndIsAlsoTheHostHeader() {
    RequestHead h = RequestHead.builder("GET", "/").host("api.example.com:8443").build();
    assertThat(h.host()).isEqualTo("api.example.com");
    assertThat(h.header("Host")).isEqualTo("api.example.com:8443");
    assertThat(RequestHead.builder("GET", "/").host("[::1]:80").build().host()).isEqualTo("[::1]");
    assertThat(RequestHead.builder("GET", "/").build().host()).isNull();
  }

  @Test
  void queryParametersAreDecodedAndMultiValued() {
    RequestHead h = RequestHead.builder("GET", "/s?q=a+b&q=c%26d&e=&n=%E2%82%AC").build();
    assertThat(h.queryParam("q")).isEqualTo("a b");
    assertThat(h.queryParams("q")).containsExactly("a b", "c&d");
    assertThat(h.queryParam("e")).isEmpty();
    assertThat(h.queryParam("n")).isEqualTo("\u20ac");
    assertThat(h.queryParam("Q")).as("names are case-sensitive").isNull();
    assertThat(h.queryParams("none")).isEmpty();
    assertThat(RequestHead.builder("GET", "/").build().queryParam("q")).isNull();
  }

  @Test
  void toStringShowsNoHeaderValueNorQuery() {
    RequestHead h =
        RequestHead.builder("POST", "/login?token=s3cret")
            .host("h")
            .header("Authorization", "Bearer s3cret")
            .build();
    assertThat(h.toString()).contains("POST", "/login", "host=h").doesNotContain("s3cret");
  }

  @Test
  void badInputSaysWhatToFix() {
    assertThatThrownBy(() -> RequestHead.builder("G ET", "/"))
        .hasMessage("method 'G ET': expected an RFC 9110 token such as GET");
    assertThatThrownBy(() -> RequestHead.builder("GET", "api"))
        .hasMessage("target 'api': expected a path starting with /");
    assertThatThrownBy(() -> RequestHead.builder("GET", "/a?x=100%").build())
        .hasMessage("target '/a?x=100%': not a valid path and query");
    assertThatThrownBy(() -> RequestHead.builder("GET", "/../etc").build())
        .hasMessage("target '/../etc': not a valid path and query");
    assertThatThrownBy(() -> RequestHead.builder("GET", "/q?v=%E0%A4").build())
        .hasMessage("target '/q?v=%E0%A4': query is not UTF-8 once decoded");
    assertThatThrownBy(() -> RequestHead.builder("GET", "/").header("X A", "1"))
        .hasMessage("header name 'X A': expected an RFC 9110 token");
    assertThatThrownBy(() -> RequestHead.builder("GET", "/").header("X-A", "1\r\nX-B: 2"))
        .hasMessage("header X-A: value has a line break");
    assertThatThrownBy(() -> RequestHead.builder("GET", "/").host(" "))
        .hasMessage("host: blank (expected: host or host:port)");
    assertThatThrownBy(() -> RequestHead.builder("GET", "/").host("h:port").build())
        .hasMessage("host 'h:port': expected host or host:port");
  }
}
