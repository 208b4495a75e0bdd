package dev.meshlet.l7;

import dev.meshlet.core.PeerIdentity;
import java.util.Locale;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.eclipse.jetty.http.HttpField;
import org.jspecify.annotations.Nullable;

/** One condition of an {@link HttpRoute}; a route matches when all of its matchers hold. */
sealed interface RequestMatcher {

  /** Whether {@code head} satisfies this condition. */
  boolean matches(HeadView head);

  /** The client's verified TLS certificate names one of {@code names}. */
  record Peer(Set<String> names) implements RequestMatcher {
    @Override
    public boolean matches(HeadView head) {
      return anyOf(names, head.peer());
    }

    static boolean anyOf(Set<String> names, @Nullable PeerIdentity peer) {
      if (peer == null) {
        return false;
      }
      for (String n : names) {
        if (peer.matches(n)) {
          return true;
        }
      }
      return false;
    }

    /** The identities given to {@code what}, checked: at least one, none blank. */
    static Set<String> names(String what, String... identities) {
      if (identities.length == 0) {
        throw new IllegalArgumentException(
            what + ": none given (expected: at least one identity, e.g. spiffe://td/ns/a/sa/b)");
      }
      for (String i : identities) {
        if (i == null || i.isBlank()) {
          throw new IllegalArgumentException(what + ": blank identity");
        }
      }
      return Set.of(identities);
    }
  }

  record PathPrefix(String prefix) implements RequestMatcher {
    @Override
    public boolean matches(HeadView head) {
      return head.path().startsWith(prefix);
    }
  }

  record PathExact(String exact) implements RequestMatcher {
    @Override
    public boolean matches(HeadView head) {
      return head.path().equals(exact);
    }
  }

  record PathRegex(ReusedMatcher regex) implements RequestMatcher {
    PathRegex(Pattern pattern) {
      this(new ReusedMatcher(pattern));
    }

    @Override
    public boolean matches(HeadView head) {
      return regex.matches(head.path());
    }
  }

  /** Exact host, or with {@code suffix} a wildcard {@code *.example.com} (one or more labels). */
  record Host(String host, boolean wildcard) implements RequestMatcher {
    @Override
    public boolean matches(HeadView head) {
      String h = head.host();
      if (h == null) {
        return false;
      }
      if (h.endsWith(".")) {
        h = h.substring(0, h.length() - 1);
      }
      if (wildcard) {
        // host is ".example.com": require at least one label before it
        return h.length() > host.length()
            && h.regionMatches(true, h.length() - host.length(), host, 0, host.length());
      }
      return h.equalsIgnoreCase(host);
    }
  }

  record Header(String name, String value) implements RequestMatcher {
    @Override
    public boolean matches(HeadView head) {
      for (HttpField f : head.fields()) {
        if (f.is(name) && value.equals(f.getValue())) {
          return true;
        }
      }
      return false;
    }
  }

  record HeaderPresent(String name) implements RequestMatcher {
    @Override
    public boolean matches(HeadView head) {
      return head.hasHeader(name);
    }
  }

  record HeaderRegex(String name, ReusedMatcher regex) implements RequestMatcher {
    HeaderRegex(String name, Pattern pattern) {
      this(name, new ReusedMatcher(pattern));
    }

    @Override
    public boolean matches(HeadView head) {
      for (HttpField f : head.fields()) {
        if (f.is(name) && regex.matches(f.getValue())) {
          return true;
        }
      }
      return false;
    }
  }

  record Method(Set<String> methods) implements RequestMatcher {
    @Override
    public boolean matches(HeadView head) {
      return methods.contains(head.method());
    }

    static Method of(String... methods) {
      if (methods.length == 0) {
        throw new IllegalArgumentException(
            "method: none given (expected: at least one, e.g. \"GET\")");
      }
      String[] upper = new String[methods.length];
      for (int i = 0; i < methods.length; i++) {
        String m = methods[i];
        if (m == null || m.isBlank()) {
          throw new IllegalArgumentException("method: blank (expected: a method such as GET)");
        }
        upper[i] = m.strip().toUpperCase(Locale.ROOT);
      }
      return new Method(Set.of(upper));
    }
  }

  record QueryParam(String name, String value) implements RequestMatcher {
    @Override
    public boolean matches(HeadView head) {
      return head.hasQueryParam(name, value);
    }
  }

  /**
   * A pattern with one {@link Matcher} per thread, reset for each input: matching allocates nothing
   * (a new matcher per request was the routing table's only allocation). Routes are evaluated on
   * the proxy's selector and pool threads, so there are few matchers.
   */
  final class ReusedMatcher {
    private final Pattern pattern;
    private final ThreadLocal<Matcher> matchers;

    ReusedMatcher(Pattern pattern) {
      this.pattern = pattern;
      this.matchers = ThreadLocal.withInitial(() -> pattern.matcher(""));
    }

    boolean matches(CharSequence input) {
      Matcher m = matchers.get();
      try {
        return m.reset(input).matches();
      } finally {
        m.reset(""); // keep no request data in the thread
      }
    }

    @Override
    public String toString() {
      return pattern.pattern();
    }
  }
}
