package dev.meshlet.l7;

import dev.meshlet.core.Cluster;
import org.eclipse.jetty.server.Request;
import org.jspecify.annotations.Nullable;

/**
 * Where a request goes, decided once before any backend: its route and cluster (a split draws one
 * here), the route's counters begun, the faults drawn for it; or the refusal the proxy answers
 * instead. Stateless policy: the exchange answers a refusal and keeps the rest.
 *
 * @param route the route chosen; null when none matched
 * @param cluster the cluster drawn; null when refused
 * @param counters the route's counters, begun; null when no route matched
 * @param faults the faults drawn; null when none applies (the usual case)
 * @param refusal the status to answer instead of forwarding (404 no route, 403 peer not allowed); 0
 *     to forward
 * @param kind what the refusal is counted as; null to forward
 */
record RouteChoice(
    @Nullable HttpRoute route,
    @Nullable Cluster cluster,
    @Nullable Counters counters,
    @Nullable FaultPlan faults,
    int refusal,
    HttpProxyStats.@Nullable ErrorKind kind) {

  /**
   * Chooses the route of {@code clientRequest} in {@code table}: the first route to select a
   * cluster wins, else the default route; applied faults are journaled in {@code record}.
   */
  static RouteChoice of(
      ProxyContext ctx, RouteTable table, Request clientRequest, RequestRecord record) {
    RequestHead head = HeadView.of(clientRequest, RequestChecks.routingPath(clientRequest));
    HttpRoute chosen = table.route(head);
    Cluster c = chosen == null ? null : chosen.pickCluster();
    if (chosen == null || c == null) {
      return new RouteChoice(chosen, null, null, null, 404, HttpProxyStats.ErrorKind.NO_ROUTE);
    }
    Counters counters = ctx.counters().beginRoute(chosen);
    if (!chosen.allows(head)) { // mutual TLS authorization: answered here, nothing forwarded
      return new RouteChoice(
          chosen, null, counters, null, 403, HttpProxyStats.ErrorKind.PEER_NOT_ALLOWED);
    }
    FaultPlan plan = FaultPlan.decide(table.faults(chosen), head, ctx.config().seed());
    if (plan != null) {
      record.faultsApplied(chosen, plan);
    }
    return new RouteChoice(chosen, c, counters, plan, 0, null);
  }
}
