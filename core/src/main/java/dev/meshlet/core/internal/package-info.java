/**
 * What only meshlet's own proxies call: admission permits for a cluster's limits, endpoint leases,
 * the journal writer, the shared seeded random mix and the hook that hands a proxy's seed to its
 * clusters.
 *
 * <p><strong>Not API.</strong> This package is exported only to meshlet's modules; anything in it
 * may change or go in any release, without notice. Users configure and read through {@code
 * dev.meshlet.core}.
 */
@NullMarked
package dev.meshlet.core.internal;

import org.jspecify.annotations.NullMarked;
