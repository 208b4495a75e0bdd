package dev.meshlet.l4;

/** What a {@link Direction} and its delay line need from whoever runs the splice. */
interface SpliceContext {
  /** The direct buffers directions borrow while a burst lasts. */
  BufferPool pool();

  /** The counters the bytes are added to. */
  Counters counters();

  /**
   * Runs {@code task} on a new virtual thread.
   *
   * @throws java.util.concurrent.RejectedExecutionException once the owner is closing
   */
  void execute(Runnable task);
}
