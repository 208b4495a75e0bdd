/**
 * meshlet driven by a control plane: {@link dev.meshlet.xds.XdsClient} subscribes to listeners,
 * routes, clusters and endpoints over xDS (the aggregated discovery service, state of the world,
 * Envoy's v3 API) and runs the {@link dev.meshlet.l7.HttpProxy HTTP} and {@link
 * dev.meshlet.l4.TcpProxy TCP} proxies they describe. No gRPC, protobuf or Envoy type is in its
 * API.
 */
@NullMarked
package dev.meshlet.xds;

import org.jspecify.annotations.NullMarked;
