package dev.meshlet.l4;

import dev.meshlet.core.ClientTls;
import dev.meshlet.core.Cluster;
import dev.meshlet.core.Endpoint;
import dev.meshlet.core.internal.Admission;
import dev.meshlet.core.internal.Lease;
import dev.meshlet.core.internal.Permit;
import java.io.IOException;
import java.net.Inet4Address;
import java.net.InetSocketAddress;
import java.net.StandardProtocolFamily;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.time.Instant;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.atomic.AtomicBoolean;
import org.jspecify.annotations.Nullable;

/**
 * One proxied connection: accept, dial, pipe. The client socket is accepted; {@link #run()} dials a
 * backend the cluster picks, then pipes both {@link Direction}s, each on its own virtual thread. It
 * ends once, through {@link #end}, with its {@link Cause}.
 */
final class Connection extends Splice {
  /** No bytes read early: shared, as nothing reads from or writes to an empty buffer. */
  private static final ByteBuffer NOTHING = ByteBuffer.allocate(0).asReadOnlyBuffer();

  private final ConnectionContext context;

  /**
   * The cluster when the connection arrived (a live update applies to later connections only), or
   * the one its ClientHello's server name routes to; written by the connection's thread only.
   */
  private Cluster cluster;

  private final SocketChannel client;

  /** Refused at once: the proxy was disabled when it was accepted. */
  private final boolean refuse;

  private volatile @Nullable SocketChannel backend;

  /** The cluster's admission, held from dial to end; closing it twice is harmless. */
  private volatile @Nullable Permit permit;

  /**
   * The endpoint dialled last, held from its connect attempt to end; closing it twice is harmless.
   */
  private volatile @Nullable Lease lease;

  final Direction toBackend;
  final Direction toClient;
  private final AtomicBoolean ended = new AtomicBoolean();
  private volatile boolean closing;
  private volatile @Nullable String cause;

  /** Owned by the reaper thread. */
  long seenActivity = -1;

  long seenSince;

  /** When the connection was accepted, for the connection duration histogram. */
  private final long openedNanos;

  /** When the opening (PROXY header, ClientHello, TLS handshake) must be done; 0 once it is. */
  volatile long openingDeadline;

  /** What the opening waits for now: the reaper ends the connection for it at the deadline. */
  private volatile Cause awaited = Cause.PROXY_HEADER;

  private final AtomicBoolean journaledOpen = new AtomicBoolean();

  /** The client's address as the PROXY header gave it, or the socket's peer. */
  private volatile @Nullable InetSocketAddress source;

  /** The address the client connected to, as the PROXY header gave it, or the socket's own. */
  private volatile @Nullable InetSocketAddress destination;

  /** The backend's end as the directions use it (TLS when the cluster speaks it). */
  private @Nullable Wire backendWire;

  Connection(
      ConnectionContext context, Cluster cluster, SocketChannel client, long id, boolean refuse) {
    super(id);
    this.context = context;
    this.cluster = cluster;
    this.client = client;
    this.refuse = refuse;
    this.seenSince = System.nanoTime();
    this.openedNanos = seenSince;
    Wire plain = Wire.plain(client);
    this.toBackend = Direction.toBackend(this, context, plain);
    this.toClient = Direction.toClient(this, context, plain);
    if (!context.opening().proxyIn()) { // else once the header has told who the client is
      journalOpened(remote(client));
    }
  }

  /** Journals the connection as opened by {@code client}, once. */
  private void journalOpened(InetSocketAddress client) {
    if (journaledOpen.compareAndSet(false, true)) {
      context.journal().record(new TcpEvent.Opened(id, client, Instant.now()));
    }
  }

  /**
   * The opening now waits for {@code what}: starts the opening's deadline, {@code timeoutNanos}
   * from now, unless it runs already.
   */
  void expect(Cause what, long timeoutNanos) {
    awaited = what;
    if (openingDeadline == 0) {
      long d = System.nanoTime() + timeoutNanos;
      openingDeadline = d == 0 ? 1 : d;
    }
  }

  /** The opening's deadline passed (called by the reaper): counted and ended for what it awaits. */
  void openingTimedOut() {
    if (closing) {
      return;
    }
    Cause what = awaited;
    Counters c = context.counters();
    (what == Cause.PROXY_HEADER
            ? c.proxyHeaderRejected
            : what == Cause.HELLO ? c.helloTimeouts : c.tlsFailures)
        .increment();
    end(what, what.label() + ": timed out (handshakeTimeout)", false);
  }

  @Override
  Direction direction(Toxic.Direction side) {
    return side == Toxic.Direction.UPSTREAM ? toBackend : toClient;
  }

  /** Dials a backend, then pipes both ways; runs on the connection's first virtual thread. */
  void run() {
    try {
      dialAndPipe();
    } catch (Throwable t) { // an Error must not leave the connection open with no thread to end it
      end(Cause.RESET, Cause.RESET.label() + ": " + t, true);
    }
  }

  private void dialAndPipe() throws IOException {
    // here, not on the acceptor: in a burst every system call the acceptor saves drains the backlog
    // sooner
    client.setOption(StandardSocketOptions.TCP_NODELAY, true);
    if (refuse) { // "down": reset at once, before any backend is touched
      context.journal().record(new TcpEvent.Refused(id, remote(client), Instant.now()));
      end(Cause.DISABLED, Cause.DISABLED.label(), true);
      return;
    }
    if (!open()) {
      return; // ended with its cause
    }
    try {
      context.execute(toClient::pipe);
    } catch (RejectedExecutionException closing) {
      end(Cause.PROXY_CLOSED, Cause.PROXY_CLOSED.label(), false);
      return;
    }
    toBackend.pipe();
  }

  /**
   * Everything before the splice: the client's PROXY header and ClientHello, its TLS handshake, the
   * backend dialled and greeted, the bytes read early replayed. A method of its own so that those
   * bytes are garbage once it returns, not held while the connection lasts. False if the connection
   * was ended (with its cause).
   */
  private boolean open() throws IOException {
    Opening opening = context.opening();
    ByteBuffer replay = NOTHING;
    source = remote(client);
    destination = local(client);
    if (opening.readsFirst()) {
      Preface preface =
          new Preface(this, client, opening, context.counters(), remote(client), local(client));
      if (!preface.read()) {
        return false; // ended with its cause
      }
      source = preface.source;
      destination = preface.destination;
      journalOpened(preface.source);
      Cluster routed = preface.routed;
      if (routed != null) {
        cluster = routed;
      }
      replay = preface.leftover(); // the hello, untouched, if the backend terminates TLS
    }
    if (opening.terminatesTls() && !secure(replay)) {
      return false; // ended with its cause
    }
    openingDeadline = 0;
    SocketChannel up = dial();
    Wire upWire = backendWire;
    if (up == null || upWire == null) {
      return false; // ended with its cause
    }
    Lease l = lease;
    if (l != null) {
      context.journal().record(new TcpEvent.Connected(id, l.endpoint().backend(), Instant.now()));
      toBackend.dialled(upWire, l);
      toClient.dialled(upWire, l);
    }
    if (replay.hasRemaining()) {
      int n = replay.remaining();
      while (replay.hasRemaining()) {
        upWire.write(replay);
      }
      toBackend.account(n);
    }
    return true;
  }

  /**
   * Handshakes with the client as the TLS server; {@code early} holds bytes read from it already
   * and is consumed. False if the handshake failed (then the connection is ended and counted).
   */
  private boolean secure(ByteBuffer early) {
    expect(Cause.TLS, context.opening().timeoutNanos());
    Wire secured;
    try {
      secured = context.tls().acceptTls(client, early);
    } catch (IOException | RuntimeException e) {
      if (!closing) { // else the deadline ended it, counted
        context.counters().tlsFailures.increment();
        end(Cause.TLS, Cause.TLS.label() + ": " + why(e), false);
      }
      return false;
    }
    toBackend.secured(secured);
    toClient.secured(secured);
    return true;
  }

  /**
   * Begins the backend connection: the PROXY header, if one is sent, then the TLS handshake, if the
   * cluster speaks TLS (a failed one is counted and journaled with why).
   */
  private Wire greet(SocketChannel ch, Endpoint e) throws IOException {
    ProxyProtocol out = context.opening().proxyOut();
    InetSocketAddress from = source;
    InetSocketAddress to = destination;
    if (out != null && from != null && to != null) {
      ByteBuffer header = ByteBuffer.wrap(ProxyHeader.encode(out, from, to));
      while (header.hasRemaining()) {
        ch.write(header);
      }
    }
    ClientTls tls = cluster.tls();
    if (tls == null) {
      return Wire.plain(ch);
    }
    try {
      return context.tls().connectTls(ch, tls, e, context.handshakeTimeoutMillis());
    } catch (IOException | RuntimeException ex) {
      context.counters().backendTlsFailures.increment();
      context
          .journal()
          .record(new TcpEvent.BackendTlsFailed(id, e.backend(), why(ex), Instant.now()));
      throw ex;
    }
  }

  /**
   * Takes the cluster's admission and connects to a backend; null (and ended) if none can be had.
   */
  private @Nullable SocketChannel dial() {
    Permit admitted = Admission.tryEnter(cluster);
    if (admitted == null) { // the cluster's circuit breaker is open: refuse at once
      end(Cause.OVERFLOW, "overflow: cluster " + cluster.name() + " max active", false);
      return null;
    }
    permit = admitted;
    if (closing) { // end() ran meanwhile and may not have seen the permit
      admitted.close();
      return null;
    }
    try (Permit pending = Admission.tryEnterPending(cluster)) {
      if (pending == null) { // too many connections wait for their backend connection
        end(Cause.OVERFLOW, "overflow: cluster " + cluster.name() + " max pending", false);
        return null;
      }
      return connect();
    }
  }

  private @Nullable SocketChannel connect() {
    long key;
    try {
      InetSocketAddress from = source;
      key =
          (from != null ? from : (InetSocketAddress) client.getRemoteAddress())
              .getAddress()
              .hashCode();
    } catch (IOException | RuntimeException e) {
      key = 0;
    }
    int attempts = Math.min(context.connectAttempts(), Math.max(1, cluster.available().size()));
    Endpoint previous = null;
    for (int attempt = 0; attempt < attempts && !closing; attempt++) {
      Endpoint e = attempt == 0 ? cluster.pick(key) : cluster.pick(key, attempt, previous);
      if (e == null) {
        break;
      }
      if (e.address().isUnresolved()) { // a failed attempt, but no socket to open or lease to take
        context.unresolved(e);
        context.counters().connectFailures.increment();
        previous = e;
        continue;
      }
      SocketChannel ch;
      try {
        ch = open(e.address());
      } catch (IOException
          | RuntimeException ex) { // no file descriptor left: not the backend's fault
        end(Cause.NO_SOCKET, Cause.NO_SOCKET.label() + ": " + ex.getMessage(), false);
        return null;
      }
      // begun after the socket opened: running out of file descriptors is not the endpoint's to
      // count;
      // held in the field before the connect so that end() closes it whatever happens next
      Lease l = Lease.begin(e);
      lease = l;
      try {
        ch.setOption(StandardSocketOptions.TCP_NODELAY, true);
        backend = ch; // end() closes it from here on, also while greeting
        long connectStart = System.nanoTime();
        ch.socket().connect(e.address(), context.connectTimeoutMillis());
        context.counters().connectTime.record(System.nanoTime() - connectStart);
        backendWire = greet(ch, e);
        l.succeeded();
        if (closing) { // end() raced with the connect and may not have seen the socket
          l.close();
          closeQuietly(ch);
          return null;
        }
        return ch;
      } catch (IOException | RuntimeException ex) {
        backend = null;
        closeQuietly(ch);
        if (closing) { // end() closed the socket under the connect: not the backend's fault
          l.close();
          return null;
        }
        l.failed();
        l.close(); // no longer in flight to this endpoint; end() closing it again does nothing
        context.counters().connectFailures.increment();
        Log.debug(() -> "meshlet-l4: connect to " + e + " failed: " + ex);
        previous = e;
      }
    }
    end(Cause.NO_BACKEND, Cause.NO_BACKEND.label(), false);
    return null;
  }

  /**
   * A channel of the backend address's family: an IPv4 backend gets an IPv4 socket (no IPv6 option
   * to set).
   */
  private static SocketChannel open(InetSocketAddress backend) throws IOException {
    return backend.getAddress() instanceof Inet4Address
        ? SocketChannel.open(StandardProtocolFamily.INET)
        : SocketChannel.open();
  }

  @Override
  boolean isClosing() {
    return closing;
  }

  /**
   * Ends the connection, once: the first call wins and the others return at once. With {@code
   * reset} both sockets are closed with RST; otherwise each gets a FIN after the bytes already
   * written, even if a direction's thread is still blocked. Releases the backend and the cluster's
   * admission, and journals {@code why}.
   */
  @Override
  void end(Cause how, String why, boolean reset) {
    if (!ended.compareAndSet(false, true)) {
      return;
    }
    cause = why;
    closing = true;
    journalOpened(remote(client)); // a connection ended before its PROXY header was read
    context
        .counters()
        .ended(how); // before the sockets close: whoever sees the close sees it counted
    context.counters().duration.record(System.nanoTime() - openedNanos);
    toBackend.closeLine();
    toClient.closeLine();
    SocketChannel up = backend;
    if (reset) {
      linger0(client);
      linger0(up);
    } else if (how != Cause.CLOSED) { // CLOSED: both sides have had their FIN already
      shutdownOutputQuietly(client);
      shutdownOutputQuietly(up);
    }
    closeQuietly(client);
    closeQuietly(up);
    releaseHeld();
    context
        .journal()
        .record(new TcpEvent.Closed(id, toBackend.bytes(), toClient.bytes(), why, Instant.now()));
    context.ended(this);
  }

  /**
   * Gives back the endpoint and the cluster's admission (a permit or lease closed twice is closed
   * once).
   */
  private void releaseHeld() {
    Lease l = lease;
    if (l != null) {
      l.close();
    }
    Permit p = permit;
    if (p != null) {
      p.close();
    }
  }

  /** Why the connection ended, or null while it is open. */
  @Nullable String cause() {
    return cause;
  }

  /** TCP_NODELAY on the client socket and on the backend socket (for tests in this package). */
  boolean[] noDelay() throws IOException {
    SocketChannel up = backend;
    return new boolean[] {
      client.getOption(StandardSocketOptions.TCP_NODELAY),
      up != null && up.getOption(StandardSocketOptions.TCP_NODELAY)
    };
  }

  /** The exception's message, or its class when it has none. */
  private static String why(Throwable t) {
    String m = t.getMessage();
    return m != null ? m : t.getClass().getSimpleName();
  }

  private static InetSocketAddress local(SocketChannel ch) {
    try {
      if (ch.getLocalAddress() instanceof InetSocketAddress a) {
        return a;
      }
    } catch (IOException | RuntimeException e) {
      // closed already
    }
    return InetSocketAddress.createUnresolved("unknown", 0);
  }

  private static InetSocketAddress remote(SocketChannel ch) {
    try {
      if (ch.getRemoteAddress() instanceof InetSocketAddress a) {
        return a;
      }
    } catch (IOException | RuntimeException e) {
      // closed already: the journal says "unknown"
    }
    return InetSocketAddress.createUnresolved("unknown", 0);
  }

  private static void shutdownOutputQuietly(@Nullable SocketChannel ch) {
    if (ch != null) {
      try {
        ch.shutdownOutput();
      } catch (IOException | RuntimeException ignored) {
        // closed already
      }
    }
  }

  private static void linger0(@Nullable SocketChannel ch) {
    if (ch != null) {
      try {
        ch.setOption(StandardSocketOptions.SO_LINGER, 0);
      } catch (IOException | RuntimeException ignored) {
        // already closed: nothing to reset
      }
    }
  }

  static void closeQuietly(@Nullable SocketChannel ch) {
    if (ch != null) {
      try {
        ch.close();
      } catch (IOException ignored) {
        // closing is best effort
      }
    }
  }

  @Override
  public String toString() {
    return "connection " + id;
  }
}
