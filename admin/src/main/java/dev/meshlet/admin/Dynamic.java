package dev.meshlet.admin;

import dev.meshlet.l4.TcpProxy;
import dev.meshlet.l7.HttpProxy;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Supplier;

/**
 * What the admin endpoint reads anew on every request: proxies that come and go (such as those an
 * xDS client runs) and extra {@code /config} sections, each from a supplier of its caller.
 */
record Dynamic(
    List<Supplier<? extends Map<String, HttpProxy>>> http,
    List<Supplier<? extends Map<String, TcpProxy>>> tcp,
    Map<String, Supplier<? extends Map<String, ?>>> sectionSuppliers) {

  Dynamic {
    http = List.copyOf(http);
    tcp = List.copyOf(tcp);
    sectionSuppliers = Collections.unmodifiableMap(new LinkedHashMap<>(sectionSuppliers));
  }

  /** The supplied proxies now; a name taken already (by a registered proxy) is skipped. */
  List<Registered> proxies(Set<String> taken) {
    List<Registered> out = new ArrayList<>();
    for (Supplier<? extends Map<String, HttpProxy>> s : http) {
      s.get()
          .forEach(
              (name, p) -> {
                if (taken.add(name)) {
                  out.add(new Registered.Http(name, p));
                }
              });
    }
    for (Supplier<? extends Map<String, TcpProxy>> s : tcp) {
      s.get()
          .forEach(
              (name, p) -> {
                if (taken.add(name)) {
                  out.add(new Registered.Tcp(name, p));
                }
              });
    }
    return out;
  }

  /** The extra sections of {@code /config} now, by name. */
  Map<String, Object> sections() {
    Map<String, Object> out = new LinkedHashMap<>();
    sectionSuppliers.forEach((name, s) -> out.put(name, new LinkedHashMap<>(s.get())));
    return out;
  }
}
