/**
 * Helpers every meshlet module's tests share, free of any wire protocol: {@link
 * dev.meshlet.testkit.Await} polls a condition with a deadline, {@link
 * dev.meshlet.testkit.EchoServer} is a real TCP backend on 127.0.0.1, {@link
 * dev.meshlet.testkit.Resources} closes what a test opened, and {@link
 * dev.meshlet.testkit.NoLeakedThreads} fails a test that leaves proxy threads behind.
 *
 * <p>Used in test scope only; nothing in the library depends on it.
 */
@NullMarked
package dev.meshlet.testkit;

import org.jspecify.annotations.NullMarked;
