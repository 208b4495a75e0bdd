/**
 * An HTTP/1.1 and HTTP/2 forwarding proxy on Jetty 12: {@link dev.meshlet.l7.HttpProxy} routes each
 * request by path, host, headers, method or query to a {@link dev.meshlet.core.Cluster}, rewrites
 * it, and streams both bodies (a small request body is read whole first).
 *
 * <p>TLS: {@link dev.meshlet.l7.HttpProxyBuilder#tls(dev.meshlet.core.ServerTls)} terminates it
 * (certificates chosen by SNI, reloaded in place, client certificates whose identity routes match
 * and authorize); a cluster with {@link dev.meshlet.core.ClientTls} is reached over TLS by a proxy
 * client of its own (one per distinct TLS configuration, each with one selector thread).
 *
 * <p>Only the clusters' backends are ever contacted: an absolute-form request target is routed like
 * any other request (its authority is not a destination) and CONNECT is answered 405. Requests are
 * parsed in Jetty's strictest mode, and ambiguous framing is answered 400 with the connection
 * closed.
 *
 * <p>Threads: one Jetty {@code QueuedThreadPool} named {@code meshlet-l7-N}, shared by the server
 * and the proxy client, plus one scheduler thread and one thread ({@code
 * meshlet-l7-client-watcher}) that notices clients leaving while their backend is silent, and with
 * TLS from files one {@code meshlet-l7-tls-watch-PORT} thread watching them. Route matchers
 * (including {@code pathRegex} and {@code headerRegex}) run on Jetty's network threads: keep their
 * regexes free of catastrophic backtracking; the access log is written from the pool. No virtual
 * threads: the forwarding path never blocks (bodies move on Jetty's demand callbacks), and Jetty's
 * proxy measured slower on virtual threads with few CPUs. {@link HttpProxy#close()} stops them all.
 */
@NullMarked
package dev.meshlet.l7;

import org.jspecify.annotations.NullMarked;
