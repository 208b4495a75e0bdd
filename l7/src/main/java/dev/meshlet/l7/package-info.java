/**
 * An HTTP/1.1 forwarding proxy on Jetty 12: {@link dev.meshlet.l7.HttpProxy} routes each request by
 * path, host, headers, method or query to a {@link dev.meshlet.core.Cluster}, rewrites it, and
 * streams both bodies without buffering whole messages.
 */
@NullMarked
package dev.meshlet.l7;

import org.jspecify.annotations.NullMarked;
