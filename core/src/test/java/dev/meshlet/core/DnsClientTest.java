package dev.meshlet.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.ByteArrayOutputStream;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** Answers as a hostile or broken server could send them: only a DnsException comes out. */
class DnsClientTest {
  private static final int ID = 0x1234;

  /** A valid answer for api.test A with one record 127.0.0.7, TTL 30. */
  private static byte[] answer() {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    byte[] q = DnsClient.encode(ID, "api.test", DnsClient.A);
    out.write(q, 0, q.length);
    byte[] m = out.toByteArray();
    m[2] = (byte) 0x81;
    m[3] = (byte) 0x80;
    m[7] = 1; // one answer
    byte[] rr = {(byte) 0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 30, 0, 4, 127, 0, 0, 7};
    byte[] all = Arrays.copyOf(m, m.length + rr.length);
    System.arraycopy(rr, 0, all, m.length, rr.length);
    return all;
  }

  @Test
  void aValidAnswerIsRead() throws Exception {
    List<DnsClient.Rr> rr = DnsClient.decode(answer(), ID, "api.test", DnsClient.A);
    assertThat(rr)
        .singleElement()
        .satisfies(
            r -> {
              assertThat(r.address().getHostAddress()).isEqualTo("127.0.0.7");
              assertThat(r.ttlSeconds()).isEqualTo(30);
            });
  }

  @Test
  void brokenAnswersAreRefusedWithAReason() {
    byte[] loop = answer();
    loop[loop.length - 16] = (byte) 0xc0;
    loop[loop.length - 15] = (byte) (loop.length - 16); // the record's name points at itself
    assertThatThrownBy(() -> DnsClient.decode(loop, ID, "api.test", DnsClient.A))
        .isInstanceOf(DnsClient.DnsException.class)
        .hasMessageContaining("loop");
    byte[] cut = Arrays.copyOf(answer(), answer().length - 2);
    assertThatThrownBy(() -> DnsClient.decode(cut, ID, "api.test", DnsClient.A))
        .isInstanceOf(DnsClient.DnsException.class);
    assertThatThrownBy(() -> DnsClient.decode(answer(), ID + 1, "api.test", DnsClient.A))
        .hasMessageContaining("another query");
    assertThatThrownBy(() -> DnsClient.decode(answer(), ID, "other.test", DnsClient.A))
        .hasMessageContaining("not other.test");
  }

  @Test
  void mutatedAnswersNeverThrowAnythingElse() {
    Random random = new Random(42);
    byte[] valid = answer();
    for (int i = 0; i < 20_000; i++) {
      byte[] m = Arrays.copyOf(valid, 1 + random.nextInt(valid.length + 8));
      for (int flips = random.nextInt(4); flips >= 0; flips--) {
        m[random.nextInt(m.length)] = (byte) random.nextInt(256);
      }
      try {
        DnsClient.decode(m, ID, "api.test", DnsClient.A);
      } catch (DnsClient.DnsException expected) {
        // refused: fine
      }
    }
  }
}
