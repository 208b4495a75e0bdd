/**
 * meshlet's JUnit 5 kit: extensions that start a proxy per test class and reset it between tests.
 * The L7 proxy is optional (a TCP-only user has no Jetty): {@code HttpProxyExtension} needs {@code
 * dev.meshlet.l7}, which a test that builds an {@code HttpProxy} requires anyway.
 */
module dev.meshlet.junit {
  requires transitive dev.meshlet.l4;
  requires static transitive dev.meshlet.l7;
  requires transitive org.junit.jupiter.api;
  requires jdk.httpserver;
  requires transitive dev.meshlet.testpki;
  requires static transitive org.jspecify;

  exports dev.meshlet.junit;
}
