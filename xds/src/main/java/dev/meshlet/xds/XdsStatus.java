package dev.meshlet.xds;

import java.util.Map;
import java.util.Objects;
import org.jspecify.annotations.Nullable;

/**
 * What an {@link XdsClient} holds now: whether its stream to the control plane is up, the version
 * in force for each resource type, and the last rejection.
 *
 * @param connected whether the ADS stream is open (it reconnects by itself when not)
 * @param versions the {@code version_info} last accepted, by type URL ({@link #LISTENER}, {@link
 *     #ROUTE}, {@link #CLUSTER}, {@link #ENDPOINT}); a type not yet accepted is absent
 * @param lastNack why the last rejected response was rejected (the {@code error_detail} sent to the
 *     control plane), or null if none was
 * @param acks responses accepted since start
 * @param nacks responses rejected since start
 * @param reconnects times the stream broke (or could not be opened) and a reconnect was scheduled
 */
public record XdsStatus(
    boolean connected,
    Map<String, String> versions,
    @Nullable String lastNack,
    long acks,
    long nacks,
    long reconnects) {

  /** The type URL of listeners (LDS). */
  public static final String LISTENER = "type.googleapis.com/envoy.config.listener.v3.Listener";

  /** The type URL of route configurations (RDS). */
  public static final String ROUTE = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration";

  /** The type URL of clusters (CDS). */
  public static final String CLUSTER = "type.googleapis.com/envoy.config.cluster.v3.Cluster";

  /** The type URL of endpoint assignments (EDS). */
  public static final String ENDPOINT =
      "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment";

  /** Copies {@code versions}. */
  public XdsStatus {
    versions = Map.copyOf(Objects.requireNonNull(versions, "versions"));
  }

  /** The version in force for {@code typeUrl}, or null if none was accepted yet. */
  public @Nullable String version(String typeUrl) {
    return versions.get(typeUrl);
  }
}
