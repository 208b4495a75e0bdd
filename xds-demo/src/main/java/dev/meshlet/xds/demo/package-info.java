/**
 * The fleet demo: {@link dev.meshlet.xds.demo.FleetDemo} runs one java-control-plane, three meshlet
 * proxies driven by it over xDS, and rolls a route change out to all three.
 */
@NullMarked
package dev.meshlet.xds.demo;

import org.jspecify.annotations.NullMarked;
