package dev.meshlet.l7;

import dev.meshlet.core.Backend;
import dev.meshlet.core.Cluster;
import java.io.BufferedReader;
import java.io.File;
import java.io.FileInputStream;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

/**
 * A proxy in a JVM of its own, started under a low {@code ulimit -n} by {@link
 * DescriptorLimitTest}, driven over stdin: {@code conns}, {@code hog} (open files until none is
 * left), {@code free}, {@code stats}, {@code quit}; each answered with one line on stdout.
 */
final class LowFdProxy {
  private LowFdProxy() {}

  public static void main(String[] args) throws Exception {
    int backendPort = Integer.parseInt(args[0]);
    for (Class<?> c : List.of(LowFdProxy.class, HttpProxy.class, Cluster.class)) {
      preload(c);
    }
    List<FileInputStream> hogged = new ArrayList<>();
    try (HttpProxy proxy =
        HttpProxy.builder()
            .listen("127.0.0.1", 0)
            .requestHeadTimeout(
                Duration.ofSeconds(
                    60)) // the flood's silent connections stay until the test closes them
            .defaultRoute(Cluster.of("b", Backend.of("127.0.0.1", backendPort)))
            .start()) {
      System.out.println("PORT " + proxy.port());
      BufferedReader in =
          new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
      for (String line; (line = in.readLine()) != null && !line.equals("quit"); ) {
        switch (line) {
          case "conns" ->
              System.out.println("CONNS " + proxy.connector().getConnectedEndPoints().size());
          case "hog" -> {
            try {
              while (true) {
                hogged.add(new FileInputStream("/dev/null"));
              }
            } catch (IOException outOfFiles) {
              System.out.println("HOGGED " + hogged.size());
            }
          }
          case "free" -> {
            for (FileInputStream f : hogged) {
              f.close();
            }
            hogged.clear();
            System.out.println("FREED");
          }
          case "stats" -> {
            HttpProxyStats.Counts t = proxy.stats().total();
            System.out.println(
                "STATS "
                    + t.errors(HttpProxyStats.ErrorKind.ACCEPT_FAILED)
                    + " "
                    + t.errors(HttpProxyStats.ErrorKind.OUT_OF_FILE_DESCRIPTORS));
          }
          default -> System.out.println("UNKNOWN " + line);
        }
        System.out.flush();
      }
    }
  }

  /**
   * Loads every class in the directory {@code c} was loaded from. Out of descriptors, a class
   * loader cannot open a class file from a directory (the build's {@code target/classes}); a jar,
   * as in production, is opened once and stays open.
   */
  private static void preload(Class<?> c) throws IOException, ClassNotFoundException {
    Path root;
    try {
      root = Path.of(c.getProtectionDomain().getCodeSource().getLocation().toURI());
    } catch (URISyntaxException e) {
      throw new IOException(e);
    }
    if (!Files.isDirectory(root)) {
      return;
    }
    List<String> names;
    try (Stream<Path> files = Files.walk(root)) {
      names =
          files
              .map(f -> root.relativize(f).toString())
              .filter(n -> n.endsWith(".class"))
              .map(n -> n.substring(0, n.length() - 6).replace(File.separatorChar, '.'))
              .toList();
    }
    for (String name : names) {
      if (!name.endsWith("module-info") && !name.endsWith("package-info")) {
        Class.forName(name, false, c.getClassLoader());
      }
    }
  }
}
