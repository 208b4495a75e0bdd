/**
 * meshlet's TCP (L4) proxy: {@link dev.meshlet.l4.TcpProxy} and its toxics. It reaches core's
 * internal package (admission permits, endpoint leases, the journal writer), which core exports to
 * meshlet's own modules only.
 */
// "l4" ends in a digit, which javac's lint warns of: it is the layer's name, as in the artifact's
@SuppressWarnings("module")
module dev.meshlet.l4 {
  requires transitive dev.meshlet.core;
  requires static transitive org.jspecify;

  exports dev.meshlet.l4;
  // the splicer for upgraded HTTP connections, for meshlet's L7 proxy only
  exports dev.meshlet.l4.internal to
      dev.meshlet.l7;
}
