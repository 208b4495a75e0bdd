/**
 * The admin endpoint for meshlet's proxies and its Toxiproxy-compatible API; start with {@link
 * dev.meshlet.admin.Admin#builder()}.
 */
@NullMarked
package dev.meshlet.admin;

import org.jspecify.annotations.NullMarked;
