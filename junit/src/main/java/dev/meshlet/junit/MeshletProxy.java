package dev.meshlet.junit;

import java.lang.annotation.Documented;
import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;

/**
 * Marks a test or lifecycle method parameter that a {@link TcpProxyExtension} fills: an {@code int}
 * (the proxy's port) or a {@link dev.meshlet.l4.TcpProxy}. With several proxies in one class, name
 * the one you mean.
 *
 * <pre>{@code
 * @Test
 * void reconnects(@MeshletProxy("db") int dbPort, @MeshletProxy("db") TcpProxy db) { ... }
 * }</pre>
 */
@Documented
@Retention(RetentionPolicy.RUNTIME)
@Target(ElementType.PARAMETER)
public @interface MeshletProxy {
  /** The extension's {@linkplain TcpProxyExtension#named(String) name}; empty matches any. */
  String value() default "";
}
