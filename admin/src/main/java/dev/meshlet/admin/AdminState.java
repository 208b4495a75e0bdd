package dev.meshlet.admin;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/** What the admin endpoint serves: the registered proxies, the Toxiproxy API's, the drain flag. */
final class AdminState {
  private final List<Registered> registered;
  private final ToxiproxyApi toxiproxy;
  private final Dynamic dynamic;
  private volatile boolean draining;

  AdminState(List<Registered> registered, Dynamic dynamic) {
    this.registered = List.copyOf(registered);
    this.dynamic = dynamic;
    this.toxiproxy = new ToxiproxyApi(this.registered);
  }

  ToxiproxyApi toxiproxy() {
    return toxiproxy;
  }

  /**
   * The registered proxies, those made through the Toxiproxy API, then the supplied ones (each
   * supplier asked now; a name in use already is skipped so metrics labels stay unique).
   */
  List<Registered> all() {
    List<Registered> all = new ArrayList<>(registered);
    all.addAll(toxiproxy.owned());
    Set<String> taken = new HashSet<>();
    for (Registered r : all) {
      taken.add(r.name());
    }
    all.addAll(dynamic.proxies(taken));
    return all;
  }

  /** The extra {@code /config} sections, by name. */
  Map<String, Object> sections() {
    return dynamic.sections();
  }

  boolean draining() {
    return draining;
  }

  /** Ready: not draining and every registered proxy takes new work. */
  boolean ready() {
    if (draining) {
      return false;
    }
    for (Registered r : registered) {
      if (!r.up()) {
        return false;
      }
    }
    return true;
  }

  void drain() {
    draining = true;
    for (Registered r : all()) {
      r.drain();
    }
  }

  void close() {
    toxiproxy.close();
  }
}
