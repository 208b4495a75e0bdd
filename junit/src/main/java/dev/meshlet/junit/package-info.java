/**
 * A JUnit 5 extension for meshlet: declare a proxy in a test class and get it started before the
 * tests, closed after them, its faults cleared between tests and its port injected. See {@link
 * dev.meshlet.junit.TcpProxyExtension}. {@link dev.meshlet.junit.TestPki} is an in-process CA for
 * TLS tests.
 */
@NullMarked
package dev.meshlet.junit;

import org.jspecify.annotations.NullMarked;
