package dev.meshlet.l4;

import java.net.InetAddress;
import java.util.Arrays;

/**
 * An address block, {@code 10.0.0.0/8} or {@code 2001:db8::/32} (a bare address is a block of one):
 * the sources a PROXY protocol header is accepted from.
 */
record Cidr(byte[] network, int bits, String text) {
  /**
   * Parses {@code ADDRESS[/BITS]}.
   *
   * @throws IllegalArgumentException naming {@code what} and the expected form
   */
  static Cidr parse(String what, String s) {
    int slash = s.indexOf('/');
    String address = slash < 0 ? s : s.substring(0, slash);
    byte[] raw = address.indexOf(':') >= 0 ? ProxyHeader.ipv6(address) : ProxyHeader.ipv4(address);
    int max = raw == null ? 0 : raw.length * 8;
    int bits = slash < 0 ? max : ProxyHeader.port(s.substring(slash + 1));
    if (raw == null || bits < 0 || bits > max) {
      throw new IllegalArgumentException(
          what
              + ": '"
              + s
              + "' (expected: an IP address or block, e.g. 10.0.0.0/8, 192.0.2.7, 2001:db8::/32)");
    }
    return new Cidr(raw, bits, s);
  }

  /** Whether {@code a} is in this block (an IPv4 block holds no IPv6 address, and back). */
  boolean contains(InetAddress a) {
    byte[] raw = a.getAddress();
    if (raw.length != network.length) {
      return false;
    }
    int full = bits / 8;
    for (int i = 0; i < full; i++) {
      if (raw[i] != network[i]) {
        return false;
      }
    }
    int rest = bits % 8;
    if (rest == 0) {
      return true;
    }
    int mask = (0xFF << (8 - rest)) & 0xFF;
    return (raw[full] & mask) == (network[full] & mask);
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof Cidr c && c.bits == bits && Arrays.equals(c.network, network);
  }

  @Override
  public int hashCode() {
    return 31 * Arrays.hashCode(network) + bits;
  }

  @Override
  public String toString() {
    return text;
  }
}
