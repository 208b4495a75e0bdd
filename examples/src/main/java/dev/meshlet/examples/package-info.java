/**
 * The runnable side of meshlet: a one-command demo ({@link dev.meshlet.examples.Demo}), a command
 * line over the public builders ({@link dev.meshlet.examples.Cli}), and small named HTTP backends
 * ({@link dev.meshlet.examples.NamedBackend}) for demos and tests.
 */
@NullMarked
package dev.meshlet.examples;

import org.jspecify.annotations.NullMarked;
