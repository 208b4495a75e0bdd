package dev.meshlet.examples;

/** A bad flag or value on the command line: the message is the one-line reason. */
final class UsageException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  UsageException(String message) {
    super(message);
  }
}
