package dev.meshlet.xds;

import java.time.Instant;

/**
 * The last response rejected: why, its type URL, the version it offered (not applied), its nonce,
 * and when.
 */
record Nack(String reason, String typeUrl, String rejectedVersion, String nonce, Instant at) {}
