/**
 * A TCP (L4) proxy: it accepts connections, picks a backend from a {@link dev.meshlet.core.Cluster}
 * and splices bytes both ways without looking at them. Start one with {@link
 * dev.meshlet.l4.TcpProxy#builder()}.
 */
@NullMarked
package dev.meshlet.l4;

import org.jspecify.annotations.NullMarked;
