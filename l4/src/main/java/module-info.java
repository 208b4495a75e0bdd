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
  // the splicer for upgraded HTTP connections (the L7 proxy) and the stats as metric families
  // (the admin endpoint, the Micrometer binders): for meshlet's own modules only
  exports dev.meshlet.l4.internal to
      dev.meshlet.l7,
      dev.meshlet.admin,
      dev.meshlet.micrometer;
}
