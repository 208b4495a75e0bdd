package dev.meshlet.l7;

import java.util.HashSet;
import java.util.Locale;
import java.util.Objects;
import java.util.Set;
import org.eclipse.jetty.client.HttpUpgrader;
import org.eclipse.jetty.client.ProtocolHandler;
import org.eclipse.jetty.client.Request;
import org.eclipse.jetty.client.Response;
import org.eclipse.jetty.client.Result;
import org.eclipse.jetty.client.transport.HttpConversation;
import org.eclipse.jetty.client.transport.HttpRequest;
import org.eclipse.jetty.http.HttpField;
import org.eclipse.jetty.http.HttpFields;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.http.HttpStatus;
import org.eclipse.jetty.http.HttpVersion;
import org.eclipse.jetty.io.EndPoint;
import org.eclipse.jetty.util.Callback;
import org.jspecify.annotations.Nullable;

/**
 * HTTP/1.1 upgrades ({@code Upgrade: websocket}): which requests ask for one the route allows, and
 * the proxy client's side of the handshake. An allowed upgrade is forwarded with its {@code
 * Upgrade} and {@code Connection: Upgrade}; a backend's {@code 101} hands the backend's connection
 * to a {@link Tunnel}. Any other answer is forwarded as an ordinary response. An upgrade the route
 * does not allow is forwarded as a plain request without its {@code Upgrade}, which RFC 9110 §7.8
 * lets a server ignore.
 */
final class Upgrades {
  /** The tokens a route allows unless told otherwise. */
  static final Set<String> DEFAULT_ALLOWED = Set.of("websocket");

  private Upgrades() {}

  /** The checked, lower-cased set of {@code protocols}, for a route. */
  static Set<String> allowed(String... protocols) {
    Set<String> allowed = new HashSet<>();
    for (String p : protocols) {
      if (Objects.requireNonNull(p, "protocol").isBlank() || p.indexOf(',') >= 0) {
        throw new IllegalArgumentException(
            "upgrade protocol: '" + p + "' (expected: one token such as websocket)");
      }
      allowed.add(p.strip().toLowerCase(Locale.ROOT));
    }
    return Set.copyOf(allowed);
  }

  /**
   * The {@code Upgrade} value of a client request that asks for an upgrade {@code route} allows
   * (HTTP/1.1, {@code Connection: upgrade}, one protocol, no body); null otherwise.
   */
  static @Nullable String requested(
      org.eclipse.jetty.server.Request clientRequest, HttpRoute route) {
    if (clientRequest.getConnectionMetaData().getHttpVersion() != HttpVersion.HTTP_1_1) {
      return null;
    }
    HttpFields h = clientRequest.getHeaders();
    HttpField upgrade = h.getField(HttpHeader.UPGRADE);
    if (upgrade == null
        || h.getFields(HttpHeader.UPGRADE).size() != 1
        || !h.contains(HttpHeader.CONNECTION, "upgrade")
        || h.contains(HttpHeader.TRANSFER_ENCODING)
        || h.getLongField(HttpHeader.CONTENT_LENGTH) > 0) {
      return null;
    }
    String value = upgrade.getValue().strip();
    if (value.isEmpty() || value.indexOf(',') >= 0) {
      return null; // a list of protocols: the proxy cannot pick for the backend
    }
    int slash = value.indexOf('/');
    String protocol = (slash < 0 ? value : value.substring(0, slash)).toLowerCase(Locale.ROOT);
    return route.upgrades().contains(protocol) ? value : null;
  }

  /** Marks {@code proxyRequest} as the upgrade to {@code protocol} that {@code attempt} makes. */
  static void prepare(Request proxyRequest, String protocol, Attempt attempt) {
    proxyRequest.headers(
        h -> {
          h.put(HttpHeader.UPGRADE, protocol);
          h.put(HttpHeader.CONNECTION, "Upgrade");
        });
    Upgrader upgrader = new Upgrader(attempt);
    proxyRequest.attribute(
        HttpUpgrader.Factory.class.getName(), (HttpUpgrader.Factory) version -> upgrader);
  }

  /** The try's side of the handshake: where the backend's connection goes after its 101. */
  private record Upgrader(Attempt attempt) implements HttpUpgrader {
    @Override
    public void prepare(Request request) {}

    @Override
    public void upgrade(Response response, EndPoint endPoint, Callback callback) {
      attempt.upgraded(response, endPoint, callback);
    }
  }

  /**
   * Takes a backend's {@code 101} to a request the proxy sent as an upgrade: the response's
   * listeners become this one, which hands the connection to the try's {@link HttpUpgrader}. A
   * {@code 101} to any other request is left to the try, which refuses it.
   */
  static final class Handler implements ProtocolHandler {
    @Override
    public String getName() {
      return "meshlet-upgrade";
    }

    @Override
    public boolean accept(Request request, Response response) {
      return response.getStatus() == HttpStatus.SWITCHING_PROTOCOLS_101
          && request.getAttributes().get(HttpUpgrader.Factory.class.getName()) != null;
    }

    @Override
    public Response.Listener getResponseListener() {
      return new Response.Listener() {
        @Override
        public void onComplete(Result result) {
          HttpRequest request = (HttpRequest) result.getRequest();
          HttpConversation conversation = request.getConversation();
          HttpUpgrader upgrader =
              (HttpUpgrader) conversation.getAttribute(HttpUpgrader.class.getName());
          EndPoint endPoint = (EndPoint) conversation.getAttribute(EndPoint.class.getName());
          if (!(upgrader instanceof Upgrader u)) {
            return; // accept() took only requests the proxy marked
          }
          Throwable why = result.getFailure();
          if (why == null && endPoint == null) {
            why = new IllegalStateException("a 101 without its connection");
          }
          if (why != null || endPoint == null) { // the try's own listener sees the failure
            u.attempt().onComplete(new Result(request, why, result.getResponse(), why));
            return;
          }
          u.upgrade(result.getResponse(), endPoint, Callback.NOOP);
        }
      };
    }
  }
}
