package dev.meshlet.l7;

import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.eclipse.jetty.util.URIUtil;

/** How a route rewrites the path; the query string is kept as received. */
sealed interface PathRewrite {
  String apply(String rawPath, String canonicalPath);

  record Prefix(String from, String to) implements PathRewrite {
    @Override
    public String apply(String rawPath, String canonicalPath) {
      if (rawPath.startsWith(from)) {
        return to + rawPath.substring(from.length());
      }
      if (canonicalPath.startsWith(from)) { // matched on the decoded form: re-encode the rest
        return to + URIUtil.encodePath(canonicalPath.substring(from.length()));
      }
      return rawPath;
    }
  }

  record Regex(Pattern pattern, String replacement) implements PathRewrite {
    @Override
    public String apply(String rawPath, String canonicalPath) {
      Matcher m = pattern.matcher(rawPath);
      String out = m.replaceAll(replacement);
      return out.startsWith("/") ? out : "/" + out;
    }
  }
}
