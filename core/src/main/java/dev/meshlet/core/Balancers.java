package dev.meshlet.core;

import dev.meshlet.core.internal.Mix;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.jspecify.annotations.Nullable;

/** The built-in balancers; each is a stateless factory of pickers. */
enum Balancers implements Balancer {
  ROUND_ROBIN {
    Picker picker(List<Endpoint> endpoints, Draws draws) {
      return new RoundRobin(endpoints.toArray(Endpoint[]::new));
    }
  },
  RANDOM {
    Picker picker(List<Endpoint> endpoints, Draws draws) {
      return new WeightedRandom(endpoints.toArray(Endpoint[]::new), draws);
    }
  },
  WEIGHTED_ROUND_ROBIN {
    Picker picker(List<Endpoint> endpoints, Draws draws) {
      return new SmoothWeighted(endpoints.toArray(Endpoint[]::new));
    }
  },
  LEAST_CONNECTIONS {
    Picker picker(List<Endpoint> endpoints, Draws draws) {
      return new PowerOfTwo(endpoints.toArray(Endpoint[]::new), draws);
    }
  },
  CONSISTENT_HASH {
    Picker picker(List<Endpoint> endpoints, Draws draws) {
      return new Ring(endpoints.toArray(Endpoint[]::new));
    }
  };

  /** A picker over {@code endpoints} whose random choices come from {@code draws}. */
  abstract Picker picker(List<Endpoint> endpoints, Draws draws);

  /** A picker drawing from {@code ThreadLocalRandom}, for callers other than a cluster. */
  @Override
  public Picker picker(List<Endpoint> endpoints) {
    return picker(endpoints, Draws.UNSEEDED);
  }

  @Override
  public String toString() {
    return name().toLowerCase().replace('_', '-');
  }

  static final class RoundRobin implements Picker {
    private final Endpoint[] endpoints;
    private final AtomicInteger next = new AtomicInteger();

    RoundRobin(Endpoint[] endpoints) {
      this.endpoints = endpoints;
    }

    @Override
    public Endpoint pick(long key, int attempt) {
      return endpoints[(next.getAndIncrement() & Integer.MAX_VALUE) % endpoints.length];
    }
  }

  static final class WeightedRandom implements Picker {
    private final Endpoint[] endpoints;
    private final long[] cumulative; // cumulative[i] = sum of weights 0..i
    private final boolean uniform;
    private final Draws draws;

    WeightedRandom(Endpoint[] endpoints, Draws draws) {
      this.endpoints = endpoints;
      this.draws = draws;
      this.cumulative = new long[endpoints.length];
      long sum = 0;
      boolean equal = true;
      for (int i = 0; i < endpoints.length; i++) {
        int w = endpoints[i].weight();
        equal &= w == endpoints[0].weight();
        sum += w;
        cumulative[i] = sum;
      }
      this.uniform = equal;
    }

    @Override
    public Endpoint pick(long key, int attempt) {
      long bits = draws.next();
      if (uniform) {
        return endpoints[Draws.high(bits, endpoints.length)];
      }
      long r = Draws.below(bits, cumulative[cumulative.length - 1]);
      int i = Arrays.binarySearch(cumulative, r + 1);
      return endpoints[i >= 0 ? i : -i - 1];
    }
  }

  /**
   * nginx's smooth weighted round robin, made lock-free: the schedule of one whole cycle is
   * computed up front with nginx's algorithm (weights divided by their gcd), and picks walk it with
   * an atomic counter.
   */
  static final class SmoothWeighted implements Picker {
    static final int MAX_CYCLE = 1 << 20;
    private final Endpoint[] endpoints;
    private final int[] schedule;
    private final AtomicInteger next = new AtomicInteger();

    SmoothWeighted(Endpoint[] endpoints) {
      this.endpoints = endpoints;
      this.schedule = schedule(weights(endpoints));
    }

    private static int[] weights(Endpoint[] endpoints) {
      int[] w = new int[endpoints.length];
      long total = 0;
      int g = 0;
      for (int i = 0; i < w.length; i++) {
        w[i] = endpoints[i].weight();
        total += w[i];
        g = gcd(g, w[i]);
      }
      for (int i = 0; i < w.length; i++) {
        w[i] /= g;
      }
      total /= g;
      if (total > MAX_CYCLE) { // scale down, keeping every endpoint in the cycle
        for (int i = 0; i < w.length; i++) {
          w[i] = (int) Math.max(1, (long) w[i] * MAX_CYCLE / total);
        }
      }
      return w;
    }

    static int[] schedule(int[] weights) {
      int total = 0;
      for (int w : weights) {
        total += w;
      }
      int[] current = new int[weights.length];
      int[] out = new int[total];
      for (int step = 0; step < total; step++) {
        int best = 0;
        for (int i = 0; i < weights.length; i++) {
          current[i] += weights[i];
          if (current[i] > current[best]) {
            best = i;
          }
        }
        current[best] -= total;
        out[step] = best;
      }
      return out;
    }

    private static int gcd(int a, int b) {
      while (b != 0) {
        int t = a % b;
        a = b;
        b = t;
      }
      return a;
    }

    @Override
    public Endpoint pick(long key, int attempt) {
      return endpoints[schedule[(next.getAndIncrement() & Integer.MAX_VALUE) % schedule.length]];
    }
  }

  static final class PowerOfTwo implements Picker {
    private final Endpoint[] endpoints;
    private final int[] weights; // as the snapshot this picker was built for has them
    private final Draws draws;

    PowerOfTwo(Endpoint[] endpoints, Draws draws) {
      this.endpoints = endpoints;
      this.draws = draws;
      this.weights = new int[endpoints.length];
      for (int i = 0; i < endpoints.length; i++) {
        weights[i] = endpoints[i].weight();
      }
    }

    @Override
    public Endpoint pick(long key, int attempt) {
      int n = endpoints.length;
      if (n == 1) {
        return endpoints[0];
      }
      long bits = draws.next(); // one draw for both choices: a seeded pick uses one number
      int i = Draws.high(bits, n);
      int j = Draws.low(bits, n - 1);
      if (j >= i) {
        j++;
      }
      Endpoint a = endpoints[i];
      Endpoint b = endpoints[j];
      // a.active / a.weight <= b.active / b.weight, without division
      long lhs = (long) a.active() * weights[j];
      long rhs = (long) b.active() * weights[i];
      return lhs <= rhs ? a : b;
    }
  }

  /** Envoy's ring hash: points sorted by hash, a key belongs to the first point at or after it. */
  static final class Ring implements Picker {
    static final int POINTS_PER_WEIGHT = 160;
    static final int MAX_POINTS = 1 << 20;
    private final Endpoint[] endpoints;
    private final long[] hashes;
    private final int[] owners;

    Ring(Endpoint[] endpoints) {
      this.endpoints = endpoints;
      long totalWeight = 0;
      for (Endpoint e : endpoints) {
        totalWeight += e.weight();
      }
      int perWeight = (int) Math.max(1, Math.min(POINTS_PER_WEIGHT, MAX_POINTS / totalWeight));
      int size = (int) (totalWeight * perWeight);
      long[] packedHashes = new long[size];
      int[] packedOwners = new int[size];
      int p = 0;
      for (int i = 0; i < endpoints.length; i++) {
        // The point positions depend only on the backend's identity, so they survive rebuilds.
        long seed = hash(endpoints[i].backend().authority());
        int points = endpoints[i].weight() * perWeight;
        for (int k = 0; k < points; k++) {
          packedHashes[p] = Mix.mix(seed + k * 0x9e3779b97f4a7c15L);
          packedOwners[p] = i;
          p++;
        }
      }
      Integer[] order = new Integer[size];
      for (int k = 0; k < size; k++) {
        order[k] = k;
      }
      Arrays.sort(
          order,
          (x, y) -> {
            int c = Long.compare(packedHashes[x], packedHashes[y]);
            // ties (vanishingly rare) are broken by authority so the ring is independent of list
            // order
            return c != 0
                ? c
                : endpoints[packedOwners[x]]
                    .backend()
                    .authority()
                    .compareTo(endpoints[packedOwners[y]].backend().authority());
          });
      this.hashes = new long[size];
      this.owners = new int[size];
      for (int k = 0; k < size; k++) {
        hashes[k] = packedHashes[order[k]];
        owners[k] = packedOwners[order[k]];
      }
    }

    static long hash(String s) { // FNV-1a 64, then mixed
      long h = 0xcbf29ce484222325L;
      for (byte b : s.getBytes(StandardCharsets.UTF_8)) {
        h ^= b & 0xff;
        h *= 0x100000001b3L;
      }
      return Mix.mix(h);
    }

    @Override
    public @Nullable Endpoint pick(long key, int attempt) {
      long h = Mix.mix(key);
      int i = Arrays.binarySearch(hashes, h);
      if (i < 0) {
        i = -i - 1;
      }
      if (i == hashes.length) {
        i = 0;
      }
      if (attempt == 0 || endpoints.length == 1) {
        return endpoints[owners[i]];
      }
      // A retry walks the ring to the attempt-th distinct owner after the first, as Envoy's does.
      int first = owners[i];
      int seen = 0;
      int previous = first;
      for (int step = 1; step < hashes.length; step++) {
        int owner = owners[(i + step) % hashes.length];
        if (owner != first && owner != previous) {
          seen++;
          previous = owner;
          if (seen == attempt % endpoints.length || seen == endpoints.length - 1) {
            return endpoints[owner];
          }
        }
      }
      return endpoints[first];
    }
  }
}
