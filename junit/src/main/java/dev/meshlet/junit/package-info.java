/**
 * A JUnit 5 extension for meshlet: declare a proxy in a test class and get it started before the
 * tests, closed after them, its faults cleared between tests and its port injected. See {@link
 * dev.meshlet.junit.TcpProxyExtension}. The kit brings {@code dev.meshlet.testpki.TestPki}, an
 * in-process CA for TLS tests.
 */
@NullMarked
package dev.meshlet.junit;

import org.jspecify.annotations.NullMarked;
