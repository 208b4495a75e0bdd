/**
 * Micrometer binders for meshlet's proxies: {@code new HttpProxyMetrics("web",
 * proxy).bindTo(registry)} and {@code new TcpProxyMetrics("db", proxy).bindTo(registry)}.
 */
@NullMarked
package dev.meshlet.micrometer;

import org.jspecify.annotations.NullMarked;
