package dev.meshlet.l7;

import dev.meshlet.core.Journal;
import java.util.concurrent.atomic.AtomicLong;
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
 * @param journal what the proxy did, request by request
 * @param requestIds numbers requests from 1 in arrival order, for the journal and the fault draws
 * @param clientWatcher notices clients leaving while their backend is silent; null for none
 */
record ProxyContext(
    ProxyConfig config,
    HttpClient client,
    Destinations destinations,
    Timeouts timeouts,
    ProxyCounters counters,
    Journal<HttpEvent> journal,
    AtomicLong requestIds,
    @Nullable ClientWatcher clientWatcher) {}
