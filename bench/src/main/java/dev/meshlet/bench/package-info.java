/**
 * Load harness and JMH microbenchmarks for meshlet; see {@code bench/README.md}. Not a library:
 * every type here is package-private except what the command line and JMH need.
 */
@NullMarked
package dev.meshlet.bench;

import org.jspecify.annotations.NullMarked;
