package dev.meshlet.l4;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The ClientHello parser on real hellos from the JDK, split, cut short and mutated. */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class ClientHelloTest {
  @Test
  void readsServerNameAndAlpnOfAJdkHello() {
    byte[] hello = Hellos.jdk("API.Example.com", "h2", "http/1.1");
    assertThat(ClientHello.parse(hello, hello.length))
        .isEqualTo(new ClientHello.Hello("api.example.com", List.of("h2", "http/1.1")));
  }

  @Test
  void helloWithoutServerNameHasNone() {
    byte[] hello = Hellos.jdk(null);
    assertThat(ClientHello.parse(hello, hello.length))
        .isEqualTo(new ClientHello.Hello(null, List.of()));
  }

  @Test
  void everyPrefixNeedsMoreAndNeverPastTheWholeHello() {
    byte[] hello = Hellos.jdk("db.internal");
    for (int n = 0; n < hello.length; n++) {
      ClientHello.Verdict v = ClientHello.parse(hello, n);
      assertThat(v).as("prefix of %d bytes", n).isInstanceOf(ClientHello.NeedMore.class);
      assertThat(((ClientHello.NeedMore) v).atLeast())
          .isGreaterThan(n)
          .isLessThanOrEqualTo(hello.length);
    }
    assertThat(ClientHello.parse(hello, hello.length)).isInstanceOf(ClientHello.Hello.class);
  }

  @Test
  void reassemblesAHelloSplitAcrossManyRecords() {
    byte[] hello = Hellos.jdk("split.example.com", "h2");
    for (int size : new int[] {1, 7, 100, 300}) {
      byte[] split = Hellos.resplit(hello, Math.max(size, hello.length / 40));
      ClientHello.Verdict v = ClientHello.parse(split, split.length);
      assertThat(v).as("records of %d bytes", size).isInstanceOf(ClientHello.Hello.class);
      assertThat(((ClientHello.Hello) v).serverName()).isEqualTo("split.example.com");
    }
  }

  @Test
  void tooManyTinyRecordsAreRefused() {
    byte[] split = Hellos.resplit(Hellos.jdk("tiny.example.com"), 1);
    assertThat(ClientHello.parse(split, split.length))
        .isInstanceOf(ClientHello.Invalid.class)
        .asString()
        .contains("more than 64 records");
  }

  @Test
  void plainTextIsNotTls() {
    byte[] http = "GET / HTTP/1.1\r\n".getBytes(StandardCharsets.US_ASCII);
    assertThat(ClientHello.parse(http, http.length)).isEqualTo(new ClientHello.NotTls());
  }

  @Test
  void anotherRecordTypeOrHandshakeMessageIsInvalid() {
    byte[] hello = Hellos.jdk("x.example.com");
    byte[] alert = hello.clone();
    alert[5] = 2; // ServerHello, not ClientHello
    assertThat(ClientHello.parse(alert, alert.length)).isInstanceOf(ClientHello.Invalid.class);
    byte[] badVersion = hello.clone();
    badVersion[1] = 9;
    assertThat(ClientHello.parse(badVersion, badVersion.length))
        .isInstanceOf(ClientHello.Invalid.class);
  }

  @Test
  void aServerNameThatIsNotAHostNameIsInvalid() {
    byte[] hello = Hellos.jdk("abc.example.com");
    byte[] name = "abc.example.com".getBytes(StandardCharsets.US_ASCII);
    int at = indexOf(hello, name);
    hello[at + 3] = '/';
    assertThat(ClientHello.parse(hello, hello.length))
        .isInstanceOf(ClientHello.Invalid.class)
        .asString()
        .contains("not a host name");
  }

  @Test
  void fuzzedHellosAlwaysGetAVerdictQuickly() {
    Random random = new Random(42);
    byte[][] seeds = {
      Hellos.jdk("a.example.com", "h2", "http/1.1"),
      Hellos.jdk(null),
      Hellos.resplit(Hellos.jdk("b.example.com"), 200)
    };
    int[] counts = new int[4];
    long started = System.nanoTime();
    for (int i = 0; i < 20_000; i++) {
      byte[] b = mutate(seeds[i % seeds.length], random);
      int len = random.nextInt(4) == 0 ? random.nextInt(b.length + 1) : b.length;
      ClientHello.Verdict v = ClientHello.parse(b, len);
      switch (v) {
        case ClientHello.NeedMore m -> {
          assertThat(m.atLeast()).isGreaterThan(len);
          counts[0]++;
        }
        case ClientHello.NotTls n -> counts[1]++;
        case ClientHello.Invalid x -> {
          assertThat(x.why()).isNotBlank();
          counts[2]++;
        }
        case ClientHello.Hello h -> counts[3]++;
      }
    }
    long millis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started);
    assertThat(counts).as("NeedMore, NotTls, Invalid, Hello").doesNotContain(0);
    assertThat(millis).as("20,000 parses").isLessThan(20_000);
  }

  /** One to four random flips, truncations, insertions or deletions of {@code seed}. */
  static byte[] mutate(byte[] seed, Random random) {
    byte[] b = seed.clone();
    int edits = 1 + random.nextInt(4);
    for (int e = 0; e < edits && b.length > 1; e++) {
      int at = random.nextInt(b.length);
      switch (random.nextInt(5)) {
        case 0 -> b[at] = (byte) random.nextInt(256);
        case 1 -> b[at] ^= (byte) (1 << random.nextInt(8));
        case 2 -> b = Arrays.copyOf(b, at + 1);
        case 3 -> {
          byte[] longer = new byte[b.length + 1];
          System.arraycopy(b, 0, longer, 0, at);
          longer[at] = (byte) random.nextInt(256);
          System.arraycopy(b, at, longer, at + 1, b.length - at);
          b = longer;
        }
        default -> {
          byte[] shorter = new byte[b.length - 1];
          System.arraycopy(b, 0, shorter, 0, at);
          System.arraycopy(b, at + 1, shorter, at, b.length - at - 1);
          b = shorter;
        }
      }
    }
    return b;
  }

  static int indexOf(byte[] haystack, byte[] needle) {
    outer:
    for (int i = 0; i + needle.length <= haystack.length; i++) {
      for (int k = 0; k < needle.length; k++) {
        if (haystack[i + k] != needle[k]) {
          continue outer;
        }
      }
      return i;
    }
    throw new AssertionError("not found");
  }
}
