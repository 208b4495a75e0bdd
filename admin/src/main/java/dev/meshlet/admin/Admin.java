package dev.meshlet.admin;

import dev.meshlet.l4.TcpProxy;
import dev.meshlet.l7.HttpProxy;
import java.io.IOException;
import java.net.InetAddress;
import java.net.URI;
import java.net.UnknownHostException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.function.Supplier;

/**
 * An admin endpoint for meshlet's proxies, on a port of its own: Prometheus metrics, cluster and
 * config dumps, readiness and drain, and a Toxiproxy-compatible HTTP API.
 *
 * <pre>{@code
 * try (Admin admin = Admin.builder()
 *         .listen("127.0.0.1", 9901)
 *         .register("web", httpProxy)
 *         .register("db", tcpProxy)
 *         .start()) {
 *   System.out.println("admin on " + admin.uri());   // curl .../stats/prometheus
 * }
 * }</pre>
 *
 * <p>Endpoints: {@code GET /stats/prometheus} (text format 0.0.4), {@code GET /clusters} and {@code
 * GET /config} (JSON), {@code GET /ready} (200, or 503 once draining or when a proxy is down),
 * {@code POST /drain} (every registered proxy stops accepting; in-flight work goes on), and
 * Toxiproxy's {@code /proxies}, {@code /populate}, {@code /reset} and {@code /version}. Proxies
 * created through the Toxiproxy API are meshlet {@link TcpProxy} instances owned by the admin
 * endpoint and closed with it; registered proxies stay the caller's to close.
 *
 * <p>Off unless started. It binds to a loopback address unless {@link Builder#allowNonLoopback()}
 * is set: it can drain the proxies and inject faults, so it is not for other machines by default.
 * It has no authentication.
 */
public final class Admin implements AutoCloseable {
  private final AdminServer server;

  private Admin(AdminServer server) {
    this.server = server;
  }

  /** Starts a builder: 127.0.0.1, port 9901 (Envoy's admin port), nothing registered. */
  public static Builder builder() {
    return new Builder();
  }

  /** The port the endpoint listens on (the real one when it was asked for port 0). */
  public int port() {
    return server.port();
  }

  /** {@code http://HOST:PORT/}. */
  public URI uri() {
    return server.uri();
  }

  /**
   * Stops every registered proxy (and every proxy made through the Toxiproxy API) from accepting
   * connections, as {@code POST /drain} does: their open connections and requests go on, and {@code
   * /ready} answers 503 from now on. Idempotent.
   */
  public void drain() {
    server.drain();
  }

  /** Whether {@link #drain()} (or {@code POST /drain}) was called. */
  public boolean isDraining() {
    return server.state().draining();
  }

  /**
   * Stops the endpoint and closes the proxies made through its Toxiproxy API; registered proxies
   * are left running. Idempotent.
   */
  @Override
  public void close() {
    server.close();
  }

  @Override
  public String toString() {
    return "Admin[" + uri() + "]";
  }

  /** Settings of an {@link Admin} endpoint; {@link #start()} checks them and starts it. */
  public static final class Builder {
    private String host = "127.0.0.1";
    private int port = 9901;
    private boolean allowNonLoopback;
    private final List<Registered> proxies = new ArrayList<>();
    private final List<Supplier<? extends Map<String, HttpProxy>>> httpSuppliers =
        new ArrayList<>();
    private final List<Supplier<? extends Map<String, TcpProxy>>> tcpSuppliers = new ArrayList<>();
    private final Map<String, Supplier<? extends Map<String, ?>>> sections = new LinkedHashMap<>();

    private Builder() {}

    /**
     * Serves HTTP proxies that come and go at run time, such as those an xDS client runs for its
     * listeners ({@code XdsClient::httpProxies}): {@code proxies} is asked on every request to
     * {@code /stats/prometheus}, {@code /clusters} and {@code /config}, and on {@code /drain}, for
     * the proxies in force by name. It must be cheap and thread-safe (an immutable snapshot). A
     * name already used by a registered proxy is skipped. Supplied proxies do not count for {@code
     * /ready}: one being removed drains by design. They stay the caller's to close.
     */
    public Builder httpProxies(Supplier<? extends Map<String, HttpProxy>> proxies) {
      httpSuppliers.add(Objects.requireNonNull(proxies, "proxies"));
      return this;
    }

    /** Serves TCP proxies that come and go at run time, as {@link #httpProxies(Supplier)} does. */
    public Builder tcpProxies(Supplier<? extends Map<String, TcpProxy>> proxies) {
      tcpSuppliers.add(Objects.requireNonNull(proxies, "proxies"));
      return this;
    }

    /**
     * Adds a section to {@code GET /config}: the map {@code section} gives on each request is
     * rendered as a JSON object under {@code name}, next to {@code listeners}. Values may be
     * strings, numbers, booleans, null, lists and maps of those. It is how a module the admin
     * endpoint does not know shows its state, e.g. {@code .configSection("xds",
     * xdsClient::statusView)}. The supplier must be cheap and thread-safe, and must never give
     * secrets: whatever it gives is served in clear.
     *
     * @throws IllegalArgumentException if {@code name} is empty, {@code "listeners"}, {@code
     *     "draining"} or used twice
     */
    public Builder configSection(String name, Supplier<? extends Map<String, ?>> section) {
      Objects.requireNonNull(name, "name");
      Objects.requireNonNull(section, "section");
      if (name.isEmpty() || name.equals("listeners") || name.equals("draining")) {
        throw new IllegalArgumentException(
            "configSection: '"
                + name
                + "' (expected: a non-empty name other than listeners, draining)");
      }
      if (sections.putIfAbsent(name, section) != null) {
        throw new IllegalArgumentException("configSection: name '" + name + "' used twice");
      }
      return this;
    }

    /**
     * Listens on {@code host} at {@code port}; 0 picks a free port. Default {@code 127.0.0.1:9901}.
     * A non-loopback host is refused by {@link #start()} unless {@link #allowNonLoopback()} is set.
     */
    public Builder listen(String host, int port) {
      Objects.requireNonNull(host, "host");
      if (port < 0 || port > 65535) {
        throw new IllegalArgumentException(
            "admin listen port: " + port + " (expected: 0-65535, 0 for any free port)");
      }
      this.host = host;
      this.port = port;
      return this;
    }

    /**
     * Lets {@link #listen(String, int)} bind to an address other machines can reach. The endpoint
     * has no authentication and can drain proxies and inject faults: put it behind a firewall.
     */
    public Builder allowNonLoopback() {
      this.allowNonLoopback = true;
      return this;
    }

    /**
     * Serves the HTTP proxy under {@code name} (the {@code listener} label in metrics).
     *
     * @throws IllegalArgumentException if a proxy of that name is registered already
     */
    public Builder register(String name, HttpProxy proxy) {
      return add(new Registered.Http(checkName(name), Objects.requireNonNull(proxy, "proxy")));
    }

    /** Serves the HTTP proxy under the name {@code http-PORT}. */
    public Builder register(HttpProxy proxy) {
      return register("http-" + Objects.requireNonNull(proxy, "proxy").port(), proxy);
    }

    /**
     * Serves the TCP proxy under {@code name} (the {@code listener} label in metrics, and its name
     * in the Toxiproxy API, where toxics can be added to it).
     *
     * @throws IllegalArgumentException if a proxy of that name is registered already
     */
    public Builder register(String name, TcpProxy proxy) {
      return add(new Registered.Tcp(checkName(name), Objects.requireNonNull(proxy, "proxy")));
    }

    /** Serves the TCP proxy under the name {@code tcp-PORT}. */
    public Builder register(TcpProxy proxy) {
      return register("tcp-" + Objects.requireNonNull(proxy, "proxy").port(), proxy);
    }

    private String checkName(String name) {
      Objects.requireNonNull(name, "name");
      if (name.isEmpty()) {
        throw new IllegalArgumentException("register: empty proxy name");
      }
      for (Registered r : proxies) {
        if (r.name().equals(name)) {
          throw new IllegalArgumentException("register: proxy name '" + name + "' used twice");
        }
      }
      return name;
    }

    private Builder add(Registered r) {
      proxies.add(r);
      return this;
    }

    /**
     * Checks the settings and starts the endpoint.
     *
     * @throws IllegalArgumentException if the host is not a loopback address and {@link
     *     #allowNonLoopback()} was not set, or does not resolve
     * @throws java.net.BindException if the address is in use
     * @throws IOException if the port cannot be bound otherwise
     */
    public Admin start() throws IOException {
      InetAddress a;
      try {
        a = InetAddress.getByName(host);
      } catch (UnknownHostException e) {
        throw new IllegalArgumentException(
            "admin listen " + host + ":" + port + ": host does not resolve", e);
      }
      if (!a.isLoopbackAddress() && !allowNonLoopback) {
        throw new IllegalArgumentException(
            "admin listen "
                + host
                + ":"
                + port
                + ": not a loopback address; the admin endpoint can drain proxies and inject"
                + " faults and has no authentication, so it binds to 127.0.0.1 unless"
                + " allowNonLoopback() is set (--admin-allow-remote on the command line)");
      }
      return new Admin(
          AdminServer.start(
              host, port, proxies, new Dynamic(httpSuppliers, tcpSuppliers, sections)));
    }
  }
}
