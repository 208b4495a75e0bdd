package dev.meshlet.l4;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.HexFormat;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The PROXY protocol codec, v1 and v2, on headers as the spec writes them and broken ones. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class ProxyHeaderTest {
  private static final InetSocketAddress SRC = new InetSocketAddress("203.0.113.7", 51234);
  private static final InetSocketAddress DST = new InetSocketAddress("10.0.0.1", 5432);

  @Test
  void encodesV1AsTheSpecWritesIt() {
    assertThat(
            new String(ProxyHeader.encode(ProxyProtocol.V1, SRC, DST), StandardCharsets.US_ASCII))
        .isEqualTo("PROXY TCP4 203.0.113.7 10.0.0.1 51234 5432\r\n");
  }

  @Test
  void encodesV2WithSignatureFamilyAndPorts() {
    assertThat(HexFormat.of().formatHex(ProxyHeader.encode(ProxyProtocol.V2, SRC, DST)))
        .isEqualTo(
            "0d0a0d0a000d0a515549540a"
                + "21"
                + "11"
                + "000c"
                + "cb007107"
                + "0a000001"
                + "c822"
                + "1538");
  }

  @Test
  void bothVersionsRoundTripForBothFamilies() {
    InetSocketAddress v6 = new InetSocketAddress("2001:db8::1", 443);
    for (ProxyProtocol v : ProxyProtocol.values()) {
      for (InetSocketAddress[] pair : new InetSocketAddress[][] {{SRC, DST}, {v6, v6}}) {
        byte[] h = ProxyHeader.encode(v, pair[0], pair[1]);
        assertThat(ProxyHeader.parse(h, h.length))
            .isEqualTo(new ProxyHeader.Header(v.ordinal() + 1, pair[0], pair[1], h.length));
      }
    }
  }

  @Test
  void aMixOfFamiliesIsSentAsIpv6WithTheIpv4AddressMapped() {
    InetSocketAddress v6 = new InetSocketAddress("::1", 8080);
    byte[] h = ProxyHeader.encode(ProxyProtocol.V1, SRC, v6);
    assertThat(new String(h, StandardCharsets.US_ASCII))
        .isEqualTo("PROXY TCP6 0:0:0:0:0:ffff:cb00:7107 0:0:0:0:0:0:0:1 51234 8080\r\n");
    ProxyHeader.Header parsed = (ProxyHeader.Header) ProxyHeader.parse(h, h.length);
    assertThat(parsed.source()).isEqualTo(SRC); // mapped back to the IPv4 address
  }

  @Test
  void v1UnknownAndV2LocalKeepTheConnectionsOwnAddress() {
    byte[] unknown = "PROXY UNKNOWN ffff::1 ffff::2 1 2\r\nGET".getBytes(StandardCharsets.US_ASCII);
    assertThat(ProxyHeader.parse(unknown, unknown.length))
        .isEqualTo(new ProxyHeader.Header(1, null, null, unknown.length - 3));
    byte[] local = HexFormat.of().parseHex("0d0a0d0a000d0a515549540a" + "20" + "00" + "0000");
    assertThat(ProxyHeader.parse(local, local.length))
        .isEqualTo(new ProxyHeader.Header(2, null, null, 16));
  }

  @Test
  void v2SkipsItsTlvs() {
    byte[] h =
        HexFormat.of()
            .parseHex(
                "0d0a0d0a000d0a515549540a"
                    + "21"
                    + "11"
                    + "0012"
                    + "cb007107"
                    + "0a000001"
                    + "c822"
                    + "1538"
                    + "030004deadbeef"
                    + "ff");
    assertThat(ProxyHeader.parse(h, h.length))
        .isEqualTo(new ProxyHeader.Header(2, SRC, DST, 16 + 18));
  }

  @Test
  void prefixesNeedMore() {
    for (ProxyProtocol v : ProxyProtocol.values()) {
      byte[] h = ProxyHeader.encode(v, SRC, DST);
      for (int n = 0; n < h.length; n++) {
        assertThat(ProxyHeader.parse(h, n))
            .as("%s, %d bytes", v, n)
            .isInstanceOf(ProxyHeader.NeedMore.class);
      }
    }
  }

  @Test
  void brokenHeadersAreInvalidAndSayWhy() {
    String[] bad = {
      "GET / HTTP/1.1\r\n",
      "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",
      "PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n",
      "PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n",
      "PROXY TCP4 1.2.3.4 5.6.7.8 1 65536\r\n",
      "PROXY TCP4 localhost 5.6.7.8 1 2\r\n",
      "PROXY TCP6 1.2.3.4 ::1 1 2\r\n",
      "PROXY TCP6 ::1::2 ::1 1 2\r\n",
      "PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n",
      "PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",
    };
    for (String s : bad) {
      byte[] b = s.getBytes(StandardCharsets.US_ASCII);
      assertThat(ProxyHeader.parse(b, b.length)).as(s).isInstanceOf(ProxyHeader.Invalid.class);
    }
    byte[] tooLong = ("PROXY TCP4 " + "1".repeat(120)).getBytes(StandardCharsets.US_ASCII);
    assertThat(ProxyHeader.parse(tooLong, tooLong.length))
        .asString()
        .contains("no CRLF within 107 bytes");
    byte[] v3 = HexFormat.of().parseHex("0d0a0d0a000d0a515549540a" + "31" + "11" + "0000");
    assertThat(ProxyHeader.parse(v3, v3.length)).asString().contains("version 3");
  }

  @Test
  void randomBytesAlwaysGetAVerdict() {
    Random random = new Random(3);
    byte[][] seeds = {
      ProxyHeader.encode(ProxyProtocol.V1, SRC, DST), ProxyHeader.encode(ProxyProtocol.V2, SRC, DST)
    };
    for (int i = 0; i < 20_000; i++) {
      byte[] b = ClientHelloTest.mutate(seeds[i % 2], random);
      assertThat(ProxyHeader.parse(b, b.length)).isNotNull();
    }
  }
}
