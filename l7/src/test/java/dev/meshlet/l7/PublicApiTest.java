package dev.meshlet.l7;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.lang.reflect.Constructor;
import java.lang.reflect.Executable;
import java.lang.reflect.Field;
import java.lang.reflect.GenericArrayType;
import java.lang.reflect.Member;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.lang.reflect.ParameterizedType;
import java.lang.reflect.RecordComponent;
import java.lang.reflect.Type;
import java.lang.reflect.TypeVariable;
import java.lang.reflect.WildcardType;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.jar.JarFile;
import java.util.stream.Stream;
import org.eclipse.jetty.http.HttpFields;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Jetty stays behind the wall: no public or protected signature of l7's public types names a Jetty
 * type (a Jetty upgrade must not break users, and users must not need Jetty to call meshlet).
 */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class PublicApiTest {

  @Test
  void noJettyTypeInThePublicApi() throws Exception {
    List<Class<?>> published = publicTypes();
    assertThat(published)
        .as("public types found")
        .contains(
            HttpProxy.class,
            HttpRoute.class,
            RequestHead.class,
            HttpRouteBuilder.class,
            HttpRoute.Match.class,
            HttpFault.Abort.class);
    Set<String> leaks = new TreeSet<>();
    for (Class<?> c : published) {
      check(c.getName() + " extends", c.getGenericSuperclass(), leaks);
      for (Type t : c.getGenericInterfaces()) {
        check(c.getName() + " implements", t, leaks);
      }
      for (TypeVariable<?> v : c.getTypeParameters()) {
        check(c.getName() + "<" + v.getName() + ">", v, leaks);
      }
      if (c.isRecord()) {
        for (RecordComponent rc : c.getRecordComponents()) {
          check(c.getName() + "." + rc.getName(), rc.getGenericType(), leaks);
        }
      }
      for (Field f : c.getDeclaredFields()) {
        if (visible(f)) {
          check(c.getName() + "." + f.getName(), f.getGenericType(), leaks);
        }
      }
      for (Constructor<?> k : c.getDeclaredConstructors()) {
        if (visible(k)) {
          checkExecutable(c.getName() + ".<init>", k, leaks);
        }
      }
      for (Method m : c.getDeclaredMethods()) {
        if (visible(m) && !m.isSynthetic()) {
          check(c.getName() + "." + m.getName() + " returns", m.getGenericReturnType(), leaks);
          checkExecutable(c.getName() + "." + m.getName(), m, leaks);
        }
      }
    }
    assertThat(leaks).as("public signatures naming Jetty types").isEmpty();
  }

  @Test
  void theCheckFindsAJettyTypeWhereOneIs() {
    Set<String> leaks = new TreeSet<>();
    check("example", Example.class.getDeclaredMethods()[0].getGenericParameterTypes()[0], leaks);
    assertThat(leaks).singleElement().asString().contains("org.eclipse.jetty.http.HttpFields");
  }

  /** A signature the check must reject: Jetty inside a generic type argument. */
  interface Example {
    void take(List<? extends HttpFields> fields);
  }

  private static void checkExecutable(String where, Executable e, Set<String> leaks) {
    for (Type t : e.getGenericParameterTypes()) {
      check(where + " parameter", t, leaks);
    }
    for (Type t : e.getGenericExceptionTypes()) {
      check(where + " throws", t, leaks);
    }
    for (TypeVariable<?> v : e.getTypeParameters()) {
      check(where + "<" + v.getName() + ">", v, leaks);
    }
  }

  private static void check(String where, Type t, Set<String> leaks) {
    check(where, t, leaks, new HashSet<>());
  }

  private static void check(String where, Type t, Set<String> leaks, Set<Type> seen) {
    if (t == null || !seen.add(t)) {
      return;
    }
    switch (t) {
      case Class<?> c -> {
        Class<?> e = c;
        while (e.isArray()) {
          e = e.getComponentType();
        }
        if (e.getName().startsWith("org.eclipse.jetty.")) {
          leaks.add(where + ": " + e.getName());
        }
      }
      case ParameterizedType p -> {
        check(where, p.getRawType(), leaks, seen);
        check(where, p.getOwnerType(), leaks, seen);
        for (Type a : p.getActualTypeArguments()) {
          check(where, a, leaks, seen);
        }
      }
      case WildcardType w -> {
        for (Type b : w.getUpperBounds()) {
          check(where, b, leaks, seen);
        }
        for (Type b : w.getLowerBounds()) {
          check(where, b, leaks, seen);
        }
      }
      case GenericArrayType a -> check(where, a.getGenericComponentType(), leaks, seen);
      case TypeVariable<?> v -> {
        for (Type b : v.getBounds()) {
          check(where, b, leaks, seen);
        }
      }
      default -> leaks.add(where + ": unknown kind of type " + t);
    }
  }

  /** Public or protected, in a type a user can reach. */
  private static boolean visible(Member m) {
    return Modifier.isPublic(m.getModifiers()) || Modifier.isProtected(m.getModifiers());
  }

  /**
   * Every class of l7's main output (directory or jar) that a user can name: public, in public
   * outers.
   */
  private static List<Class<?>> publicTypes()
      throws IOException, URISyntaxException, ClassNotFoundException {
    Path root =
        Path.of(HttpProxy.class.getProtectionDomain().getCodeSource().getLocation().toURI());
    List<String> names = new ArrayList<>();
    if (Files.isDirectory(root)) {
      try (Stream<Path> files = Files.walk(root)) {
        files.map(p -> root.relativize(p).toString().replace('\\', '/')).forEach(names::add);
      }
    } else {
      try (JarFile jar = new JarFile(root.toFile())) {
        jar.stream().forEach(e -> names.add(e.getName()));
      }
    }
    List<Class<?>> out = new ArrayList<>();
    for (String n : names) {
      if (!n.endsWith(".class")
          || n.endsWith("module-info.class")
          || n.endsWith("package-info.class")) {
        continue;
      }
      Class<?> c =
          Class.forName(
              n.substring(0, n.length() - 6).replace('/', '.'),
              false,
              PublicApiTest.class.getClassLoader());
      if (reachable(c)) {
        out.add(c);
      }
    }
    return out;
  }

  private static boolean reachable(Class<?> c) {
    for (Class<?> k = c; k != null; k = k.getEnclosingClass()) {
      if (!Modifier.isPublic(k.getModifiers()) || k.isAnonymousClass() || k.isLocalClass()) {
        return false;
      }
    }
    return c.getPackageName().startsWith("dev.meshlet.");
  }
}
