package dev.meshlet.l7;

import dev.meshlet.core.internal.LatencyRecorder;
import java.util.EnumMap;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReferenceArray;
import java.util.concurrent.atomic.LongAdder;

/** Live, lock-free counters behind one {@link HttpProxyStats.Counts}. */
final class Counters {
  private final LongAdder requests = new LongAdder();
  private final AtomicLong inFlight = new AtomicLong();
  private final LongAdder[] byClass = new LongAdder[6];
  private final LongAdder[] errors = new LongAdder[HttpProxyStats.ErrorKind.values().length];
  private final LongAdder bytesIn = new LongAdder();
  private final LongAdder bytesOut = new LongAdder();
  private final LatencyRecorder upstreamTime = new LatencyRecorder();
  private final LatencyRecorder totalTime = new LatencyRecorder();
  private final LongAdder faultsApplied = new LongAdder();

  /**
   * One counter per status code 100-599, made the first time the code is seen: a scope sees a few
   * codes, so this holds a few adders, and no request after the first of its code allocates.
   */
  private final AtomicReferenceArray<LongAdder> byCode = new AtomicReferenceArray<>(500);

  Counters() {
    for (int i = 0; i < byClass.length; i++) {
      byClass[i] = new LongAdder();
    }
    for (int i = 0; i < errors.length; i++) {
      errors[i] = new LongAdder();
    }
  }

  void begin() {
    requests.increment();
    inFlight.incrementAndGet();
  }

  /** Ends a request begun with {@link #begin()}; status 0 means no response was sent. */
  long end(int status) {
    counted(status);
    return left();
  }

  /** The first half of {@link #end(int)}: counts the status. */
  void counted(int status) {
    if (status >= 100 && status < 600) {
      byClass[status / 100].increment();
      code(status).increment();
    }
  }

  /**
   * The second half of {@link #end(int)}: the request leaves; returns how many are still in flight.
   */
  long left() {
    return inFlight.decrementAndGet();
  }

  /** Counts a response the proxy sent without a request ever reaching a handler. */
  void rejected(int status) {
    requests.increment();
    counted(status);
  }

  private LongAdder code(int status) {
    LongAdder a = byCode.get(status - 100);
    if (a == null) {
      LongAdder made = new LongAdder();
      a = byCode.compareAndExchange(status - 100, null, made);
      if (a == null) {
        a = made;
      }
    }
    return a;
  }

  void error(HttpProxyStats.ErrorKind kind) {
    errors[kind.ordinal()].increment();
  }

  void bytesIn(long n) {
    bytesIn.add(n);
  }

  void bytesOut(long n) {
    bytesOut.add(n);
  }

  /**
   * Records a request's times: {@code upstreamNanos} until the backend's response head (negative
   * when no head came, then not recorded) and {@code totalNanos} from arrival to the end.
   */
  void timed(long upstreamNanos, long totalNanos) {
    if (upstreamNanos >= 0) {
      upstreamTime.record(upstreamNanos);
    }
    totalTime.record(totalNanos);
  }

  void faultsApplied(int n) {
    faultsApplied.add(n);
  }

  long inFlight() {
    return inFlight.get();
  }

  /**
   * Adds two snapshots: one backend name can stand for several endpoints over time (removed and
   * re-added) or in several clusters.
   */
  static HttpProxyStats.Counts sum(HttpProxyStats.Counts a, HttpProxyStats.Counts b) {
    Map<HttpProxyStats.ErrorKind, Long> e = new EnumMap<>(HttpProxyStats.ErrorKind.class);
    e.putAll(a.errors());
    b.errors().forEach((k, v) -> e.merge(k, v, Long::sum));
    return new HttpProxyStats.Counts(
        a.requests() + b.requests(),
        a.inFlight() + b.inFlight(),
        a.status1xx() + b.status1xx(),
        a.status2xx() + b.status2xx(),
        a.status3xx() + b.status3xx(),
        a.status4xx() + b.status4xx(),
        a.status5xx() + b.status5xx(),
        e,
        a.bytesIn() + b.bytesIn(),
        a.bytesOut() + b.bytesOut(),
        a.upstreamTime().plus(b.upstreamTime()),
        a.totalTime().plus(b.totalTime()),
        a.faultsApplied() + b.faultsApplied(),
        sumCodes(a.statusCodes(), b.statusCodes()));
  }

  private static Map<Integer, Long> sumCodes(Map<Integer, Long> a, Map<Integer, Long> b) {
    Map<Integer, Long> m = new TreeMap<>(a);
    b.forEach((k, v) -> m.merge(k, v, Long::sum));
    return m;
  }

  private Map<Integer, Long> codes() {
    Map<Integer, Long> m = new TreeMap<>();
    for (int i = 0; i < byCode.length(); i++) {
      LongAdder a = byCode.get(i);
      if (a != null) {
        m.put(i + 100, a.sum());
      }
    }
    return m;
  }

  HttpProxyStats.Counts snapshot() {
    Map<HttpProxyStats.ErrorKind, Long> e = new EnumMap<>(HttpProxyStats.ErrorKind.class);
    for (HttpProxyStats.ErrorKind k : HttpProxyStats.ErrorKind.values()) {
      long n = errors[k.ordinal()].sum();
      if (n != 0) {
        e.put(k, n);
      }
    }
    return new HttpProxyStats.Counts(
        requests.sum(),
        inFlight.get(),
        byClass[1].sum(),
        byClass[2].sum(),
        byClass[3].sum(),
        byClass[4].sum(),
        byClass[5].sum(),
        e,
        bytesIn.sum(),
        bytesOut.sum(),
        upstreamTime.snapshot(),
        totalTime.snapshot(),
        faultsApplied.sum(),
        codes());
  }
}
