package dev.meshlet.l7;

import java.nio.ByteBuffer;
import org.eclipse.jetty.websocket.api.Callback;
import org.eclipse.jetty.websocket.api.Session;

/** A WebSocket endpoint that echoes; public, as Jetty reaches its methods by public lookup. */
public final class WsEcho extends Session.Listener.AbstractAutoDemanding {
  @Override
  public void onWebSocketText(String message) {
    getSession().sendText("echo:" + message, Callback.NOOP);
  }

  @Override
  public void onWebSocketBinary(ByteBuffer payload, Callback callback) {
    getSession().sendBinary(payload, callback);
  }
}
