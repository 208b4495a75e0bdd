/**
 * meshlet's test PKI: {@link dev.meshlet.testpki.TestPki}, a certificate authority made in memory
 * for tests. It needs BouncyCastle, as the JDK cannot sign a certificate.
 */
module dev.meshlet.testpki {
  requires org.bouncycastle.pkix;
  requires org.bouncycastle.provider;
  requires static transitive org.jspecify;

  exports dev.meshlet.testpki;
}
