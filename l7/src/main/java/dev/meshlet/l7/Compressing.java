package dev.meshlet.l7;

import org.eclipse.jetty.compression.gzip.GzipCompression;
import org.eclipse.jetty.compression.gzip.GzipEncoderConfig;
import org.eclipse.jetty.compression.server.CompressionConfig;
import org.eclipse.jetty.compression.server.CompressionHandler;
import org.eclipse.jetty.server.Handler;
import org.jspecify.annotations.Nullable;

/**
 * Jetty's {@link CompressionHandler} around the forwarding handler, as {@link ResponseCompression}
 * says: gzip only, responses only (request bodies are forwarded as they came), sync flush on every
 * write, and a response that is encoded already is left alone.
 */
final class Compressing {
  private Compressing() {}

  /** {@code handler}, compressing its responses when {@code c} is set. */
  static Handler wrap(Handler handler, @Nullable ResponseCompression c) {
    if (c == null) {
      return handler;
    }
    GzipCompression gzip = new GzipCompression();
    gzip.setMinCompressSize(c.minBytes());
    if (gzip.getDefaultEncoderConfig() instanceof GzipEncoderConfig e) {
      e.setSyncFlush(true); // a streamed response reaches the client write by write
    }
    CompressionConfig.Builder config = CompressionConfig.builder();
    c.mimeTypes().forEach(config::compressIncludeMimeType);
    config.compressIncludeEncoding("gzip");
    // a transparent proxy forwards request bodies as they came: no decompression
    config.decompressExcludePath("/*");
    CompressionHandler compressing = new CompressionHandler(handler);
    compressing.putCompression(gzip);
    compressing.putConfiguration("/", config.build());
    return compressing;
  }
}
