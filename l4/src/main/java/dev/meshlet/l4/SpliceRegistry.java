package dev.meshlet.l4;

import java.util.List;
import java.util.concurrent.ExecutorService;

/** The live splices a {@link Toxics} draws for, and where it counts and times what it does. */
interface SpliceRegistry {
  /** The open splices, oldest first: the order the toxics visit them in. */
  List<? extends Splice> inAcceptOrder();

  /** The counters a toxic applied is added to. */
  Counters counters();

  /** The executor the toxics' timers run on. */
  ExecutorService executor();
}
