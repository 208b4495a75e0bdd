package dev.meshlet.l7;

/**
 * The HTTP/2 limits of an {@link HttpProxy}, on both sides: what clients may open and send on the
 * listener's HTTP/2 connections, and how many streams the proxy opens on one connection to an
 * HTTP/2 backend. Built with {@link #builder()}; {@link #defaults()} is what a proxy uses unless
 * told.
 *
 * <p>A client that exceeds a limit is answered as the protocol says: a stream over {@link
 * #maxConcurrentStreams()} is refused ({@code RST_STREAM REFUSED_STREAM}); a header block over
 * {@link #maxHeaderListSize()} closes the connection; more than {@link
 * #maxControlFramesPerSecond()} of the frames that cost the proxy work without a request (resets,
 * SETTINGS, PING, empty frames: the rapid reset and flood attacks) closes the connection with
 * {@code GOAWAY ENHANCE_YOUR_CALM}. Each closure and refused stream is counted in the stats errors
 * ({@link HttpProxyStats.ErrorKind#H2_FLOOD}, {@link HttpProxyStats.ErrorKind#H2_PROTOCOL}, {@link
 * HttpProxyStats.ErrorKind#H2_STREAM_REFUSED}) and the first of each kind logged.
 *
 * @param maxConcurrentStreams the most streams a client may have open on one connection; default
 *     128
 * @param maxHeaderListSize the largest header block a client may send, in bytes, counted as HPACK
 *     decodes it (names, values and 32 bytes per field); CONTINUATION frames count towards it.
 *     Default 0: the proxy's {@link HttpProxyBuilder#maxRequestHeaderSize(int) request head limit}
 * @param initialStreamWindow the flow-control window of each stream the proxy receives on, in
 *     bytes, both sides; default 512 KiB
 * @param initialSessionWindow the flow-control window of each connection the proxy receives on, in
 *     bytes, both sides; default 1 MiB
 * @param maxControlFramesPerSecond the most control frames a client may send per second on one
 *     connection before it is closed; default 200
 * @param maxStreamsPerUpstreamConnection the most requests the proxy sends at once on one HTTP/2
 *     connection to a backend (fewer when the backend's SETTINGS say so); more open more
 *     connections, up to {@link HttpProxyBuilder#maxConnectionsPerBackend(int)}. Default 100
 */
public record Http2Limits(
    int maxConcurrentStreams,
    int maxHeaderListSize,
    int initialStreamWindow,
    int initialSessionWindow,
    int maxControlFramesPerSecond,
    int maxStreamsPerUpstreamConnection) {

  /** The smallest flow-control window HTTP/2 allows (RFC 9113 §6.9.2): 65,535 bytes. */
  private static final int MIN_WINDOW = 65_535;

  /** Checks every limit; a limit out of range is named in the message. */
  public Http2Limits {
    atLeast("http2 maxConcurrentStreams", maxConcurrentStreams, 1);
    atLeast("http2 maxHeaderListSize", maxHeaderListSize, 0);
    atLeast("http2 initialStreamWindow", initialStreamWindow, MIN_WINDOW);
    atLeast("http2 initialSessionWindow", initialSessionWindow, MIN_WINDOW);
    atLeast("http2 maxControlFramesPerSecond", maxControlFramesPerSecond, 1);
    atLeast("http2 maxStreamsPerUpstreamConnection", maxStreamsPerUpstreamConnection, 1);
  }

  private static void atLeast(String what, int value, int min) {
    if (value < min) {
      throw new IllegalArgumentException(what + ": " + value + " (expected: >= " + min + ")");
    }
  }

  /** The defaults: 128 streams, the request head limit, 512 KiB and 1 MiB windows, 200/s, 100. */
  public static Http2Limits defaults() {
    return builder().build();
  }

  /** A builder starting from the {@link #defaults()}. */
  public static Builder builder() {
    return new Builder();
  }

  /** A builder starting from these limits. */
  public Builder toBuilder() {
    Builder b = new Builder();
    b.maxConcurrentStreams = maxConcurrentStreams;
    b.maxHeaderListSize = maxHeaderListSize;
    b.initialStreamWindow = initialStreamWindow;
    b.initialSessionWindow = initialSessionWindow;
    b.maxControlFramesPerSecond = maxControlFramesPerSecond;
    b.maxStreamsPerUpstreamConnection = maxStreamsPerUpstreamConnection;
    return b;
  }

  /** Collects {@link Http2Limits}; each setter's default is the record component's. */
  public static final class Builder {
    private int maxConcurrentStreams = 128;
    private int maxHeaderListSize;
    private int initialStreamWindow = 512 * 1024;
    private int initialSessionWindow = 1024 * 1024;
    private int maxControlFramesPerSecond = 200;
    private int maxStreamsPerUpstreamConnection = 100;

    private Builder() {}

    /** See {@link Http2Limits#maxConcurrentStreams()}; default 128. */
    public Builder maxConcurrentStreams(int n) {
      maxConcurrentStreams = n;
      return this;
    }

    /** See {@link Http2Limits#maxHeaderListSize()}, bytes; default 0 (the request head limit). */
    public Builder maxHeaderListSize(int bytes) {
      maxHeaderListSize = bytes;
      return this;
    }

    /** See {@link Http2Limits#initialStreamWindow()}, bytes; default 512 KiB. */
    public Builder initialStreamWindow(int bytes) {
      initialStreamWindow = bytes;
      return this;
    }

    /** See {@link Http2Limits#initialSessionWindow()}, bytes; default 1 MiB. */
    public Builder initialSessionWindow(int bytes) {
      initialSessionWindow = bytes;
      return this;
    }

    /** See {@link Http2Limits#maxControlFramesPerSecond()}; default 200. */
    public Builder maxControlFramesPerSecond(int n) {
      maxControlFramesPerSecond = n;
      return this;
    }

    /** See {@link Http2Limits#maxStreamsPerUpstreamConnection()}; default 100. */
    public Builder maxStreamsPerUpstreamConnection(int n) {
      maxStreamsPerUpstreamConnection = n;
      return this;
    }

    /**
     * The limits.
     *
     * @throws IllegalArgumentException naming the first limit out of range
     */
    public Http2Limits build() {
      return new Http2Limits(
          maxConcurrentStreams,
          maxHeaderListSize,
          initialStreamWindow,
          initialSessionWindow,
          maxControlFramesPerSecond,
          maxStreamsPerUpstreamConnection);
    }
  }
}
