/**
 * {@link dev.meshlet.testpki.TestPki}: an in-process CA issuing leaf certificates for DNS names,
 * IPs and SPIFFE IDs, expired and wrong-host ones, handed over as JDK objects ({@code KeyStore},
 * {@code SSLContext}, keys and chains) or written as PEM files. To use a leaf with meshlet's TLS
 * settings: {@code TlsIdentity.of(leaf.privateKey(), leaf.chain())} and {@code
 * TlsTrust.of(pki.caCertificate())}.
 */
@NullMarked
package dev.meshlet.testpki;

import org.jspecify.annotations.NullMarked;
