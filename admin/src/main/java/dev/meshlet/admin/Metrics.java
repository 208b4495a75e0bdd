package dev.meshlet.admin;

import dev.meshlet.l4.internal.TcpFamilies;
import dev.meshlet.l7.internal.HttpFamilies;
import java.util.List;

/**
 * The proxies' stats as Prometheus families, named after Envoy's statistics with a {@code meshlet_}
 * prefix, labelled by {@code listener} (the registered name), {@code route}, {@code cluster} and
 * {@code backend}. Histograms are in milliseconds, as Envoy's. The families themselves are the
 * proxies' own ({@link TcpFamilies}, {@link HttpFamilies}), which the Micrometer binders write too.
 */
final class Metrics {
  private Metrics() {}

  static String write(List<Registered> proxies) {
    PromText p = new PromText();
    for (Registered r : proxies) {
      switch (r) {
        case Registered.Http h -> HttpFamilies.write(p, h.name(), h.proxy().stats());
        case Registered.Tcp t -> TcpFamilies.write(p, t.name(), t.proxy());
      }
    }
    return p.text();
  }
}
