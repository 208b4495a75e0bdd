/**
 * What meshlet's own modules use of the L4 splicer, exported to them only: an upgraded HTTP
 * connection's two ends, as blocking {@link dev.meshlet.l4.internal.Pipe}s, spliced with the toxics
 * a {@link dev.meshlet.l4.Toxics} holds. Nothing here knows HTTP.
 */
@NullMarked
package dev.meshlet.l4.internal;

import org.jspecify.annotations.NullMarked;
