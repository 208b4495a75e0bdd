package dev.meshlet.bench;

import java.io.BufferedInputStream;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;
import java.util.concurrent.locks.LockSupport;

/**
 * Child role {@code latency <port> <rate/s> <connections> <warmup s> <seconds>}: an open-loop HTTP
 * client. Request i is due at {@code start + i / rate}, whatever happened before; a free connection
 * takes the next due request, waits for its time, sends it and reads the answer. Latency is
 * measured from the <em>due</em> time, not the send time, so a stall that delays later requests
 * shows in their latency (no coordinated omission, as in wrk2). Prints {@code LAT <p50 µs> <p99 µs>
 * <p99.9 µs> <max µs> <achieved rate> <errors>}.
 *
 * <p>A rate of {@code 0} runs closed loop instead: every connection sends its next request as soon
 * as the previous answer is read, so the achieved rate is the saturation rate of this client, the
 * target and its backend on the CPUs they share (latency is then measured from the send time).
 */
final class LatencyClient {
  private LatencyClient() {}

  static void main(String[] args) throws Exception {
    int port = Integer.parseInt(args[0]);
    double rate = Double.parseDouble(args[1]);
    int connections = Integer.parseInt(args[2]);
    double warmup = Double.parseDouble(args[3]);
    double seconds = Double.parseDouble(args[4]);
    boolean closedLoop = rate == 0;
    double periodNs = closedLoop ? 0 : 1e9 / rate;
    // closed loop: no schedule; bound the sample arrays by a rate no client here reaches
    double bound = closedLoop ? 200_000 : rate;
    long total = (long) (bound * (warmup + seconds));
    long measuredFrom = (long) (bound * warmup);
    AtomicLong next = new AtomicLong();
    LongAdder errors = new LongAdder();
    long[][] samples = new long[connections][];
    int[] counts = new int[connections];
    List<Socket> sockets = new ArrayList<>();
    for (int c = 0; c < connections; c++) {
      Socket s = new Socket();
      s.setTcpNoDelay(true);
      s.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 5000);
      s.setSoTimeout(10_000);
      sockets.add(s);
      long perConnection =
          closedLoop ? (long) (bound * seconds) * 4 / connections + 1024 : total - measuredFrom + 1;
      samples[c] = new long[(int) Math.min(Integer.MAX_VALUE - 8, perConnection)];
    }
    long start = System.nanoTime() + 50_000_000L;
    long hardStop = start + (long) ((warmup + seconds) * 1.5e9) + 5_000_000_000L;
    long measureStart = start + (long) (warmup * 1e9);
    long measureEnd = measureStart + (long) (seconds * 1e9);
    List<Thread> threads = new ArrayList<>();
    for (int c = 0; c < connections; c++) {
      int id = c;
      Socket s = sockets.get(c);
      threads.add(
          Thread.ofPlatform()
              .name("latency-" + c)
              .start(
                  () -> {
                    StringBuilder line = new StringBuilder(256);
                    try {
                      InputStream in = new BufferedInputStream(s.getInputStream(), 16 * 1024);
                      OutputStream out = s.getOutputStream();
                      while (true) {
                        long i = next.getAndIncrement();
                        if (i >= total) {
                          return;
                        }
                        long due = closedLoop ? System.nanoTime() : start + (long) (i * periodNs);
                        long now;
                        while ((now = System.nanoTime()) < due) {
                          LockSupport.parkNanos(due - now);
                        }
                        if (now > (closedLoop ? measureEnd : hardStop)) {
                          return;
                        }
                        out.write(Http.GET);
                        out.flush();
                        int status = Http.readResponse(in, line);
                        long done = System.nanoTime();
                        if (status != 200) {
                          errors.increment();
                        }
                        boolean measured = closedLoop ? due >= measureStart : i >= measuredFrom;
                        if (measured && counts[id] < samples[id].length) {
                          samples[id][counts[id]++] = done - due;
                        }
                      }
                    } catch (Exception e) {
                      errors.increment();
                      System.err.println("latency-" + id + ": " + e);
                    }
                  }));
    }
    for (Thread t : threads) {
      t.join();
    }
    long end = System.nanoTime();
    int n = 0;
    for (int c : counts) {
      n += c;
    }
    long[] all = new long[n];
    int k = 0;
    for (int c = 0; c < connections; c++) {
      System.arraycopy(samples[c], 0, all, k, counts[c]);
      k += counts[c];
    }
    Arrays.sort(all);
    double measuredSeconds =
        closedLoop
            ? (Math.min(end, measureEnd) - measureStart) / 1e9
            : (end - (start + (long) (measuredFrom * periodNs))) / 1e9;
    System.out.printf(
        "LAT %.1f %.1f %.1f %.1f %.0f %d%n",
        pct(all, 0.50),
        pct(all, 0.99),
        pct(all, 0.999),
        n == 0 ? 0.0 : all[n - 1] / 1e3,
        n / measuredSeconds,
        errors.sum());
    System.out.flush();
    for (Socket s : sockets) {
      s.close();
    }
    System.exit(0);
  }

  private static double pct(long[] sorted, double q) {
    if (sorted.length == 0) {
      return Double.NaN;
    }
    int i = (int) Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1);
    return sorted[Math.max(0, i)] / 1e3;
  }
}
