package dev.meshlet.l7;

import org.eclipse.jetty.client.HttpClient;
import org.jspecify.annotations.Nullable;

/**
 * What every exchange of a proxy shares, fixed when the proxy is assembled.
 *
 * @param config the proxy's settings
 * @param client the proxy client, towards the backends
 * @param destinations the backends' addresses as the client sees them
 * @param timeouts every timer of the request path
 * @param counters every live counter
 * @param ledger where every request is written down (counts, access log, journal)
 * @param clientWatcher notices clients leaving while their backend is silent; null for none
 * @param bodyBudget the bytes buffered request bodies may hold together
 * @param tunnels the L4 splicers upgraded connections are handed to, one per route
 */
record ProxyContext(
    ProxyConfig config,
    HttpClient client,
    Destinations destinations,
    Timeouts timeouts,
    ProxyCounters counters,
    Ledger ledger,
    @Nullable ClientWatcher clientWatcher,
    BodyBudget bodyBudget,
    TunnelSplicers tunnels) {}
