/**
 * Test helper (used only by *_test.ts): a throw-away fleet CA made with @peculiar/x509 and
 * WebCrypto ECDSA P-256, as PEM text, independent of src/pki.
 * @module
 */
import "reflect-metadata";
import * as x509 from "@peculiar/x509";

/** A test CA: certificate and PKCS#8 key as PEM, and its public key. */
export interface TestCa {
  /** Self-signed CA certificate, PEM. */
  certPem: string;
  /** Private key, PEM PKCS#8. */
  keyPem: string;
  /** Public key for verification. */
  publicKey: CryptoKey;
}

/** Makes a self-signed P-256 CA valid from 2020 to 2100. */
export async function makeTestCa(cn = "Scout Test CA"): Promise<TestCa> {
  const keys = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, [
    "sign",
    "verify",
  ]) as CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: "01",
    name: `CN=${cn}`,
    notBefore: new Date("2020-01-01T00:00:00Z"),
    notAfter: new Date("2100-01-01T00:00:00Z"),
    keys,
    signingAlgorithm: { name: "ECDSA", hash: "SHA-256" },
    extensions: [new x509.BasicConstraintsExtension(true, undefined, true)],
  });
  const pkcs8 = await crypto.subtle.exportKey("pkcs8", keys.privateKey);
  return {
    certPem: cert.toString("pem"),
    keyPem: x509.PemConverter.encode(pkcs8, "PRIVATE KEY"),
    publicKey: keys.publicKey,
  };
}
