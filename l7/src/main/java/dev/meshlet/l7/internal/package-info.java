/**
 * What only meshlet's own modules use of the L7 proxy (its stats as metric families); exported to
 * them alone.
 */
@NullMarked
package dev.meshlet.l7.internal;

import org.jspecify.annotations.NullMarked;
