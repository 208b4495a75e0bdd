package dev.meshlet.bench;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/** Facts about the machine and the statistics the harness reports. */
final class Facts {
  private Facts() {}

  static String machine() {
    String cpu = "?";
    try {
      for (String l : Files.readAllLines(Path.of("/proc/cpuinfo"))) {
        if (l.startsWith("model name")) {
          cpu = l.substring(l.indexOf(':') + 1).strip();
          break;
        }
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return Runtime.getRuntime().availableProcessors()
        + " CPUs visible to the harness ("
        + cpu
        + "), "
        + "JDK "
        + System.getProperty("java.vm.version")
        + " ("
        + System.getProperty("java.vm.vendor")
        + "), "
        + "Linux "
        + System.getProperty("os.version");
  }

  static String loadavg() {
    try {
      return Files.readString(Path.of("/proc/loadavg")).strip();
    } catch (IOException e) {
      return "?";
    }
  }

  /** Two significant digits, at least 100/s. */
  static double roundRate(double r) {
    if (r < 100) {
      return 100;
    }
    double unit = Math.pow(10, Math.floor(Math.log10(r)) - 1);
    return Math.floor(r / unit) * unit;
  }

  static double median(double[] v) {
    double[] s = v.clone();
    Arrays.sort(s);
    return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  }

  static double medianOf(List<double[]> runs, int field) {
    double[] v = new double[runs.size()];
    for (int i = 0; i < v.length; i++) {
      v[i] = runs.get(i)[field];
    }
    return median(v);
  }

  static String runs(double[] v) {
    StringBuilder b = new StringBuilder();
    for (double d : v) {
      b.append(b.isEmpty() ? "" : ", ")
          .append(d >= 100 ? fmt0(d) : String.format(Locale.ROOT, "%.1f", d));
    }
    return b.toString();
  }

  static String fmt0(double d) {
    return String.format(Locale.ROOT, "%,.0f", d);
  }
}
