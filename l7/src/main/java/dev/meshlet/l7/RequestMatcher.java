package dev.meshlet.l7;

import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.regex.Pattern;
import org.eclipse.jetty.http.HttpField;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.util.Fields;

/** One condition of an {@link HttpRoute}; a route matches when all of its matchers hold. */
sealed interface RequestMatcher {

  /**
   * Whether the request satisfies this condition.
   *
   * @param path the request's decoded, normalized path (computed once per request)
   */
  boolean matches(Request request, String path);

  record PathPrefix(String prefix) implements RequestMatcher {
    @Override
    public boolean matches(Request request, String path) {
      return path.startsWith(prefix);
    }
  }

  record PathExact(String exact) implements RequestMatcher {
    @Override
    public boolean matches(Request request, String path) {
      return path.equals(exact);
    }
  }

  record PathRegex(ReusedMatcher regex) implements RequestMatcher {
    PathRegex(Pattern pattern) {
      this(new ReusedMatcher(pattern));
    }

    @Override
    public boolean matches(Request request, String path) {
      return regex.matches(path);
    }
  }

  /** Exact host, or with {@code suffix} a wildcard {@code *.example.com} (one or more labels). */
  record Host(String host, boolean wildcard) implements RequestMatcher {
    @Override
    public boolean matches(Request request, String path) {
      String h = request.getHttpURI().getHost();
      if (h == null) {
        return false;
      }
      if (h.endsWith(".")) {
        h = h.substring(0, h.length() - 1);
      }
      if (wildcard) {
        // host is ".example.com": require at least one label before it
        return h.length() > host.length() && h.regionMatches(true, h.length() - host.length(), host, 0, host.length());
      }
      return h.equalsIgnoreCase(host);
    }
  }

  record Header(String name, String value) implements RequestMatcher {
    @Override
    public boolean matches(Request request, String path) {
      for (HttpField f : request.getHeaders()) {
        if (f.is(name) && value.equals(f.getValue())) {
          return true;
        }
      }
      return false;
    }
  }

  record HeaderPresent(String name) implements RequestMatcher {
    @Override
    public boolean matches(Request request, String path) {
      return request.getHeaders().contains(name);
    }
  }

  record HeaderRegex(String name, ReusedMatcher regex) implements RequestMatcher {
    HeaderRegex(String name, Pattern pattern) {
      this(name, new ReusedMatcher(pattern));
    }

    @Override
    public boolean matches(Request request, String path) {
      for (HttpField f : request.getHeaders()) {
        if (f.is(name) && regex.matches(f.getValue())) {
          return true;
        }
      }
      return false;
    }
  }

  record Method(Set<String> methods) implements RequestMatcher {
    @Override
    public boolean matches(Request request, String path) {
      return methods.contains(request.getMethod());
    }

    static Method of(String... methods) {
      if (methods.length == 0) {
        throw new IllegalArgumentException("method: none given (expected: at least one, e.g. \"GET\")");
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
    public boolean matches(Request request, String path) {
      if (request.getHttpURI().getQuery() == null) {
        return false;
      }
      Fields fields = Request.extractQueryParameters(request);
      List<String> values = fields.getValues(name);
      return values != null && values.contains(value);
    }
  }

  /**
   * A pattern with one {@link java.util.regex.Matcher} per thread, reset for each input: matching
   * allocates nothing (a new matcher per request was the routing table's only allocation). Routes
   * are evaluated on the proxy's selector and pool threads, so there are few matchers.
   */
  final class ReusedMatcher {
    private final Pattern pattern;
    private final ThreadLocal<java.util.regex.Matcher> matchers;

    ReusedMatcher(Pattern pattern) {
      this.pattern = pattern;
      this.matchers = ThreadLocal.withInitial(() -> pattern.matcher(""));
    }

    boolean matches(CharSequence input) {
      java.util.regex.Matcher m = matchers.get();
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
