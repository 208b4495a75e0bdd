package dev.meshlet.xds;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.jspecify.annotations.Nullable;

/**
 * An {@link XdsStatus} as a JSON-ready map, for the admin endpoint's {@code /config}. It holds
 * versions, counters and the NACK reason only: no resource body, so no secret can leak through it.
 */
final class StatusView {
  private static final List<String> TYPES =
      List.of(XdsStatus.LISTENER, XdsStatus.ROUTE, XdsStatus.CLUSTER, XdsStatus.ENDPOINT);

  private StatusView() {}

  static Map<String, Object> of(String server, XdsStatus s, @Nullable Nack nack) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("server", server);
    m.put("connected", s.connected());
    Map<String, Object> versions = new LinkedHashMap<>();
    for (String type : TYPES) {
      String v = s.version(type);
      if (v != null) {
        versions.put(shortName(type), v);
      }
    }
    m.put("versions", versions);
    Map<String, Object> byUrl = new LinkedHashMap<>();
    for (String type : TYPES) {
      String v = s.version(type);
      if (v != null) {
        byUrl.put(type, v);
      }
    }
    m.put("versionsByTypeUrl", byUrl);
    if (nack == null) {
      m.put("lastNack", null);
    } else {
      Map<String, Object> n = new LinkedHashMap<>();
      n.put("reason", nack.reason());
      n.put("type", shortName(nack.typeUrl()));
      n.put("typeUrl", nack.typeUrl());
      n.put("rejectedVersion", nack.rejectedVersion());
      n.put("nonce", nack.nonce());
      n.put("at", nack.at().toString());
      m.put("lastNack", n);
    }
    m.put("acks", s.acks());
    m.put("nacks", s.nacks());
    m.put("reconnects", s.reconnects());
    return m;
  }

  /** LDS, RDS, CDS, EDS; any other type URL as it is. */
  static String shortName(String typeUrl) {
    return switch (typeUrl) {
      case XdsStatus.LISTENER -> "LDS";
      case XdsStatus.ROUTE -> "RDS";
      case XdsStatus.CLUSTER -> "CDS";
      case XdsStatus.ENDPOINT -> "EDS";
      default -> typeUrl;
    };
  }
}
