package dev.meshlet.l4;

/**
 * The toxics that apply to one connection, per direction. The arrays are replaced (copy on write)
 * under the {@link Toxics} lock; each direction's thread reads its array once per chunk of data.
 */
final class ConnectionToxics {
  static final ActiveToxic[] NONE = new ActiveToxic[0];

  final Splice splice;
  final long id;
  private volatile ActiveToxic[] upstream = NONE;
  private volatile ActiveToxic[] downstream = NONE;

  ConnectionToxics(Splice splice, long id) {
    this.splice = splice;
    this.id = id;
  }

  /** The one volatile read a direction makes per chunk. */
  ActiveToxic[] active(boolean toUpstream) {
    return toUpstream ? upstream : downstream;
  }

  void add(ActiveToxic a) {
    if (a.toxic.direction() == Toxic.Direction.UPSTREAM) {
      upstream = append(upstream, a);
    } else {
      downstream = append(downstream, a);
    }
  }

  void remove(Toxics.Installed gone) {
    ActiveToxic removed = null;
    for (ActiveToxic a : upstream) {
      if (a.installed == gone) {
        removed = a;
        upstream = without(upstream, a);
      }
    }
    for (ActiveToxic a : downstream) {
      if (a.installed == gone) {
        removed = a;
        downstream = without(downstream, a);
      }
    }
    if (removed != null) {
      removed.cancelTimer();
      if (removed.toxic instanceof Toxic.Timeout) { // as Toxiproxy: what it applied to may have lost data
        splice.cut("toxic " + gone.name + ": removed after dropping " + removed.dropped + " bytes", false);
      }
    }
  }

  void cancelTimers() {
    for (ActiveToxic a : upstream) {
      a.cancelTimer();
    }
    for (ActiveToxic a : downstream) {
      a.cancelTimer();
    }
  }

  private static ActiveToxic[] append(ActiveToxic[] list, ActiveToxic a) {
    ActiveToxic[] next = java.util.Arrays.copyOf(list, list.length + 1);
    next[list.length] = a;
    return next;
  }

  private static ActiveToxic[] without(ActiveToxic[] list, ActiveToxic a) {
    if (list.length == 1) {
      return NONE;
    }
    ActiveToxic[] next = new ActiveToxic[list.length - 1];
    int k = 0;
    for (ActiveToxic x : list) {
      if (x != a) {
        next[k++] = x;
      }
    }
    return next;
  }
}
