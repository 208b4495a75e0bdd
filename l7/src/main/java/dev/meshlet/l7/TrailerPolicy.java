package dev.meshlet.l7;

import org.eclipse.jetty.http.HttpField;
import org.eclipse.jetty.http.HttpFields;
import org.eclipse.jetty.http.HttpHeader;
import org.jspecify.annotations.Nullable;

/**
 * Filters chunked trailers in both directions. A trailer is merged into the headers by some
 * recipients, so fields that frame, route, authenticate or describe the hop (RFC 9110 §6.5.1) must
 * not pass in a trailer, whatever the header policy let through in the head.
 */
final class TrailerPolicy {
  private TrailerPolicy() {}

  /**
   * The trailers to forward: {@code in} without forbidden fields and without the fields {@code ops}
   * name; null when nothing is left.
   */
  static @Nullable HttpFields filter(@Nullable HttpFields in, @Nullable HeaderOps... ops) {
    if (in == null || in.size() == 0) {
      return null;
    }
    HttpFields.Mutable out = HttpFields.build(in.size());
    for (HttpField f : in) {
      if (!forbidden(f)) {
        out.add(f);
      }
    }
    for (@Nullable HeaderOps o : ops) {
      if (o != null) {
        o.removeNamed(out);
      }
    }
    return out.size() == 0 ? null : out;
  }

  static boolean forbidden(HttpField f) {
    HttpHeader h = f.getHeader();
    if (h != null) {
      switch (h) {
        case CONTENT_LENGTH,
            TRANSFER_ENCODING,
            HOST,
            CONNECTION,
            KEEP_ALIVE,
            PROXY_CONNECTION,
            TE,
            UPGRADE,
            TRAILER,
            EXPECT,
            PROXY_AUTHENTICATE,
            PROXY_AUTHORIZATION,
            AUTHORIZATION,
            WWW_AUTHENTICATE,
            COOKIE,
            SET_COOKIE,
            X_FORWARDED_FOR,
            X_FORWARDED_HOST,
            X_FORWARDED_PORT,
            X_FORWARDED_PROTO,
            X_FORWARDED_SERVER,
            FORWARDED,
            VIA,
            CONTENT_TYPE,
            CONTENT_ENCODING,
            CONTENT_RANGE,
            RANGE,
            CACHE_CONTROL,
            LOCATION,
            DATE,
            SERVER,
            AGE,
            EXPIRES,
            MAX_FORWARDS -> {
          return true;
        }
        default -> {
          return false;
        }
      }
    }
    String name = f.getLowerCaseName();
    return name.equals("x-request-id")
        || name.equals("x-real-ip")
        || name.startsWith("x-forwarded-")
        || name.indexOf('_') >= 0
        || name.startsWith("proxy-");
  }
}
