package dev.meshlet.admin;

import java.util.ArrayList;
import java.util.List;

/** What the admin endpoint serves: the registered proxies, the Toxiproxy API's, the drain flag. */
final class AdminState {
  private final List<Registered> registered;
  private final ToxiproxyApi toxiproxy;
  private volatile boolean draining;

  AdminState(List<Registered> registered) {
    this.registered = List.copyOf(registered);
    this.toxiproxy = new ToxiproxyApi(this.registered);
  }

  ToxiproxyApi toxiproxy() {
    return toxiproxy;
  }

  /** The registered proxies, then those made through the Toxiproxy API. */
  List<Registered> all() {
    List<Registered> all = new ArrayList<>(registered);
    all.addAll(toxiproxy.owned());
    return all;
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
