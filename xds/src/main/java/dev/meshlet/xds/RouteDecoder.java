package dev.meshlet.xds;

import dev.meshlet.core.Cluster;
import dev.meshlet.l7.HttpProxy;
import dev.meshlet.l7.HttpRouteBuilder;
import io.envoyproxy.envoy.config.route.v3.HeaderMatcher;
import io.envoyproxy.envoy.config.route.v3.QueryParameterMatcher;
import io.envoyproxy.envoy.config.route.v3.Route;
import io.envoyproxy.envoy.config.route.v3.RouteConfiguration;
import io.envoyproxy.envoy.config.route.v3.RouteMatch;
import io.envoyproxy.envoy.config.route.v3.VirtualHost;
import io.envoyproxy.envoy.type.matcher.v3.StringMatcher;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.function.Consumer;
import java.util.function.Function;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;
import org.jspecify.annotations.Nullable;

/**
 * Reads an RDS route configuration into a {@link RouteTable}. Envoy picks the virtual host by its
 * most specific domain, then the first matching route in it; meshlet has one ordered list, so each
 * (domain, route) pair becomes a route with a host condition, ordered exact domains first, then
 * suffix wildcards, then prefix wildcards (longer first), then {@code *}.
 */
final class RouteDecoder {
  private RouteDecoder() {}

  private record Domain(String domain, VirtualHost vhost) {}

  static RouteTable decode(RouteConfiguration rc, Function<String, @Nullable Cluster> clusters) {
    String where = "route_configuration " + rc.getName() + ": ";
    List<Domain> domains = new ArrayList<>();
    Set<String> seen = new HashSet<>();
    for (VirtualHost vh : rc.getVirtualHostsList()) {
      if (vh.getDomainsCount() == 0) {
        throw new IllegalArgumentException(where + "virtual_host " + vh.getName() + ": no domains");
      }
      for (String d : vh.getDomainsList()) {
        String key = d.toLowerCase(Locale.ROOT);
        if (!seen.add(key)) {
          throw new IllegalArgumentException(where + "domain " + d + " in two virtual hosts");
        }
        domains.add(new Domain(key, vh));
      }
    }
    domains.sort(
        Comparator.comparingInt((Domain d) -> rank(d.domain()))
            .thenComparingInt(d -> -d.domain().length()));
    List<Consumer<HttpRouteBuilder>> routes = new ArrayList<>();
    Set<String> names = new HashSet<>();
    for (Domain d : domains) {
      VirtualHost vh = d.vhost();
      List<Route> rs = vh.getRoutesList();
      for (int i = 0; i < rs.size(); i++) {
        Route r = rs.get(i);
        String name =
            vh.getName()
                + "/"
                + (r.getName().isEmpty() ? "route-" + (i + 1) : r.getName())
                + (vh.getDomainsCount() > 1 ? "@" + d.domain() : "");
        if (!names.add(name)) {
          throw new IllegalArgumentException(where + "route name " + name + " repeats");
        }
        String at = where + "route " + name + ": ";
        Consumer<HttpRouteBuilder> host = host(d.domain());
        Consumer<HttpRouteBuilder> match = match(at, r.getMatch());
        Consumer<HttpRouteBuilder> action = RouteActionDecoder.decode(at, rc, vh, r, clusters);
        routes.add(
            b -> {
              b.name(name);
              host.accept(b);
              match.accept(b);
              action.accept(b);
            });
      }
    }
    if (routes.isEmpty()) {
      throw new IllegalArgumentException(where + "no routes");
    }
    RouteTable table = new RouteTable(rc.getName(), routes);
    try {
      table.applyTo(HttpProxy.builder()); // builds every route, so what meshlet refuses shows now
    } catch (IllegalArgumentException | IllegalStateException e) {
      throw new IllegalArgumentException(where + e.getMessage(), e);
    }
    return table;
  }

  /** 0 exact, 1 suffix wildcard, 2 prefix wildcard, 3 any. */
  private static int rank(String d) {
    if (d.equals("*")) {
      return 3;
    }
    if (d.startsWith("*")) {
      return 1;
    }
    return d.endsWith("*") ? 2 : 0;
  }

  private static Consumer<HttpRouteBuilder> host(String d) {
    if (d.equals("*")) {
      return b -> {};
    }
    if (d.indexOf(':') < 0 && (d.indexOf('*') < 0 || (d.startsWith("*.") && d.length() > 2))) {
      return b -> b.host(d);
    }
    // with a port, or a wildcard that is not "*." + suffix: Envoy's exact text, on the Host header
    String regex;
    if (d.startsWith("*")) {
      regex = ".+" + Pattern.quote(d.substring(1));
    } else if (d.endsWith("*")) {
      regex = Pattern.quote(d.substring(0, d.length() - 1)) + ".+";
    } else {
      regex = Pattern.quote(d);
    }
    String withPort = d.indexOf(':') < 0 && !d.endsWith("*") ? regex + "(:[0-9]+)?" : regex;
    return b -> b.headerRegex("Host", "(?i)" + withPort);
  }

  private static Consumer<HttpRouteBuilder> match(String at, RouteMatch m) {
    if (m.hasCaseSensitive() && !m.getCaseSensitive().getValue()) {
      throw new IllegalArgumentException(at + "case_sensitive: false not supported");
    }
    if (m.hasRuntimeFraction()
        || m.hasGrpc()
        || m.hasTlsContext()
        || m.getDynamicMetadataCount() > 0) {
      throw new IllegalArgumentException(
          at + "match on runtime_fraction, grpc, tls_context or dynamic_metadata not supported");
    }
    List<Consumer<HttpRouteBuilder>> parts = new ArrayList<>();
    switch (m.getPathSpecifierCase()) {
      case PREFIX -> {
        String p = m.getPrefix();
        if (!p.isEmpty() && !p.equals("/")) {
          parts.add(b -> b.pathPrefix(p));
        }
      }
      case PATH -> {
        String p = m.getPath();
        parts.add(b -> b.path(p));
      }
      case SAFE_REGEX -> {
        String regex = checkRegex(at, m.getSafeRegex().getRegex());
        parts.add(b -> b.pathRegex(regex));
      }
      default ->
          throw new IllegalArgumentException(
              at
                  + "path match "
                  + m.getPathSpecifierCase()
                  + " not supported (expected: prefix, path or safe_regex)");
    }
    for (HeaderMatcher h : m.getHeadersList()) {
      parts.add(header(at, h));
    }
    for (QueryParameterMatcher q : m.getQueryParametersList()) {
      StringMatcher s = q.getStringMatch();
      if (q.getQueryParameterMatchSpecifierCase()
              != QueryParameterMatcher.QueryParameterMatchSpecifierCase.STRING_MATCH
          || s.getMatchPatternCase() != StringMatcher.MatchPatternCase.EXACT
          || s.getIgnoreCase()) {
        throw new IllegalArgumentException(
            at
                + "query parameter "
                + q.getName()
                + ": only an exact, case-sensitive match supported");
      }
      String name = q.getName();
      String value = s.getExact();
      parts.add(b -> b.queryParam(name, value));
    }
    return b -> parts.forEach(p -> p.accept(b));
  }

  @SuppressWarnings("deprecation") // control planes still send the pre-string_match fields
  private static Consumer<HttpRouteBuilder> header(String at, HeaderMatcher h) {
    String name = h.getName();
    String where = at + "header " + name + ": ";
    if (h.getInvertMatch() || h.getTreatMissingHeaderAsEmpty()) {
      throw new IllegalArgumentException(
          where + "invert_match and treat_missing_header_as_empty not supported");
    }
    StringMatcher s;
    switch (h.getHeaderMatchSpecifierCase()) {
      case PRESENT_MATCH -> {
        if (!h.getPresentMatch()) {
          throw new IllegalArgumentException(where + "present_match: false not supported");
        }
        checkNotPseudo(where, name);
        return b -> b.headerPresent(name);
      }
      case STRING_MATCH -> s = h.getStringMatch();
      case EXACT_MATCH -> s = StringMatcher.newBuilder().setExact(h.getExactMatch()).build();
      case PREFIX_MATCH -> s = StringMatcher.newBuilder().setPrefix(h.getPrefixMatch()).build();
      case SUFFIX_MATCH -> s = StringMatcher.newBuilder().setSuffix(h.getSuffixMatch()).build();
      case CONTAINS_MATCH ->
          s = StringMatcher.newBuilder().setContains(h.getContainsMatch()).build();
      case SAFE_REGEX_MATCH ->
          s = StringMatcher.newBuilder().setSafeRegex(h.getSafeRegexMatch()).build();
      default ->
          throw new IllegalArgumentException(
              where + h.getHeaderMatchSpecifierCase() + " not supported");
    }
    if (name.equals(":method")) {
      if (s.getMatchPatternCase() != StringMatcher.MatchPatternCase.EXACT || s.getIgnoreCase()) {
        throw new IllegalArgumentException(where + "only an exact match supported");
      }
      String method = s.getExact();
      return b -> b.method(method);
    }
    checkNotPseudo(where, name);
    if (s.getMatchPatternCase() == StringMatcher.MatchPatternCase.EXACT && !s.getIgnoreCase()) {
      String value = s.getExact();
      return b -> b.header(name, value);
    }
    String regex =
        switch (s.getMatchPatternCase()) {
          case EXACT -> Pattern.quote(s.getExact());
          case PREFIX -> Pattern.quote(s.getPrefix()) + ".*";
          case SUFFIX -> ".*" + Pattern.quote(s.getSuffix());
          case CONTAINS -> ".*" + Pattern.quote(s.getContains()) + ".*";
          case SAFE_REGEX -> checkRegex(where, s.getSafeRegex().getRegex());
          default ->
              throw new IllegalArgumentException(
                  where + "string match " + s.getMatchPatternCase() + " not supported");
        };
    String full = (s.getIgnoreCase() ? "(?i)" : "") + regex;
    return b -> b.headerRegex(name, full);
  }

  private static void checkNotPseudo(String where, String name) {
    if (name.startsWith(":")) {
      throw new IllegalArgumentException(
          where + "pseudo-header not supported (expected: :method or a header name)");
    }
  }

  static String checkRegex(String where, String regex) {
    try {
      Pattern.compile(regex);
      return regex;
    } catch (PatternSyntaxException e) {
      throw new IllegalArgumentException(where + "regex " + regex + ": " + e.getDescription(), e);
    }
  }
}
