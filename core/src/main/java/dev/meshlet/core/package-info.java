/**
 * The model every meshlet proxy shares: {@link dev.meshlet.core.Backend backends} grouped into
 * {@link dev.meshlet.core.Cluster clusters}, a {@link dev.meshlet.core.Balancer balancer} that
 * picks an {@link dev.meshlet.core.Endpoint endpoint} for each connection or request, and the
 * {@link dev.meshlet.core.Route route} that maps what a proxy sees to a cluster.
 *
 * <p>Nothing here knows about a wire protocol: the L4 proxy ({@code dev.meshlet.l4}) and the L7
 * proxy ({@code dev.meshlet.l7}) build on it.
 */
@NullMarked
package dev.meshlet.core;

import org.jspecify.annotations.NullMarked;
