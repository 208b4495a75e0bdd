/**
 * Micrometer meter binders for meshlet's proxies: {@link dev.meshlet.micrometer.HttpProxyMetrics}
 * and {@link dev.meshlet.micrometer.TcpProxyMetrics} put the admin endpoint's metrics in any {@code
 * MeterRegistry}. The proxies' modules are optional: bind the proxies you use.
 */
@SuppressWarnings("requires-transitive-automatic") // Micrometer ships automatic modules only
module dev.meshlet.micrometer {
  requires transitive micrometer.core;
  requires transitive dev.meshlet.core;
  requires static transitive dev.meshlet.l4;
  requires static transitive dev.meshlet.l7;
  requires static transitive org.jspecify;

  exports dev.meshlet.micrometer;
}
