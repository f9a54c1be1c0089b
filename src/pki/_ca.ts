/**
 * Making and reading PKI material: the fleet CA, a device key with its CSR, and facts about
 * certificates and CSRs. Pure apart from WebCrypto; time comes in as `now`.
 * @module
 */
import { IDENTITY_PATTERN } from "../config/mod.ts";
import {
  altNames,
  commonName,
  DAY_MS,
  hex,
  keyAlgorithmName,
  P256,
  parseCertificates,
  parsePem,
  pkiError,
  SKEW_MS,
  x509,
} from "./_x509.ts";

/** A certificate with its private key, both PEM (the key as unencrypted PKCS#8). */
export interface CertAndKey {
  /** Certificate PEM. */
  certPem: string;
  /** PKCS#8 private key PEM ("-----BEGIN PRIVATE KEY-----"). */
  keyPem: string;
}

/** Options of createCa. */
export interface CreateCaOptions {
  /** The CA's common name. @default "Scout Fleet CA" */
  name?: string;
  /** Validity in days from `now`. @default 3650 */
  days?: number;
  /** The current time; notBefore is set 5 minutes earlier for clock skew. */
  now: Date;
}

/** Generates a P-256 key pair that can be exported (to store it as PKCS#8). */
async function newKeyPair(): Promise<CryptoKeyPair> {
  return await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, [
    "sign",
    "verify",
  ]) as CryptoKeyPair;
}

/** PKCS#8 PEM of an extractable private key. */
async function pkcs8Pem(key: CryptoKey): Promise<string> {
  return x509.PemConverter.encode(await crypto.subtle.exportKey("pkcs8", key), "PRIVATE KEY");
}

/** A random positive 16-byte serial number, as hex. */
export function randomSerial(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[0] = (bytes[0]! & 0x7f) | 0x01; // positive, and no leading zero byte to strip
  return hex(bytes);
}

/** Throws PKI_INVALID unless days is a whole number from 1 to 36500. */
export function checkDays(days: number): number {
  if (!Number.isInteger(days) || days < 1 || days > 36_500) {
    throw pkiError("PKI_INVALID", `invalid validity of ${days} days`, {
      hint: "give days as a whole number from 1 to 36500",
    });
  }
  return days;
}

/**
 * Creates a self-signed ECDSA P-256 CA: basicConstraints CA:true (critical, path length 0:
 * it issues leaf certificates only), keyUsage keyCertSign + cRLSign (critical), SKI.
 */
export async function createCa(options: CreateCaOptions): Promise<CertAndKey> {
  const days = checkDays(options.days ?? 3650);
  const name = options.name ?? "Scout Fleet CA";
  if (name.trim() === "") {
    throw pkiError("PKI_INVALID", "the CA name is empty", { hint: "give the CA a name" });
  }
  const keys = await newKeyPair();
  const now = options.now.getTime();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: [{ CN: [name] }],
    notBefore: new Date(now - SKEW_MS),
    notAfter: new Date(now + days * DAY_MS),
    keys,
    signingAlgorithm: P256,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign,
        true,
      ),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: cert.toString("pem") + "\n", keyPem: (await pkcs8Pem(keys.privateKey)) + "\n" };
}

/** A device key and its certificate signing request. */
export interface KeyAndCsr {
  /** The private key, non-extractable, for use in this process (TLS, signing). */
  privateKey: CryptoKey;
  /** The same key as PKCS#8 PEM, for the agent to store (mode 0600). */
  keyPem: string;
  /** The PKCS#10 request PEM. */
  csrPem: string;
}

/** Throws PKI_INVALID unless identity follows the node identity rule. */
export function checkIdentity(identity: string): string {
  if (typeof identity !== "string" || !IDENTITY_PATTERN.test(identity)) {
    throw pkiError("PKI_INVALID", `invalid identity ${JSON.stringify(identity)}`, {
      hint: 'an identity is like a host name: letters, digits, "." and "-"',
      context: { identity },
    });
  }
  return identity;
}

/**
 * Makes a P-256 key on this device and a CSR for it: CN=identity, SAN dNSName=identity and an
 * extension request for EKU clientAuth (which NATS `verify` requires of client certificates).
 */
export async function generateKeyAndCsr(identity: string): Promise<KeyAndCsr> {
  checkIdentity(identity);
  const keys = await newKeyPair();
  const pkcs8 = await crypto.subtle.exportKey("pkcs8", keys.privateKey);
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: [{ CN: [identity] }],
    keys,
    signingAlgorithm: P256,
    extensions: [
      new x509.SubjectAlternativeNameExtension([{ type: "dns", value: identity }]),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]),
    ],
  });
  const privateKey = await crypto.subtle.importKey(
    "pkcs8",
    pkcs8,
    { name: "ECDSA", namedCurve: "P-256" },
    false,
    ["sign"],
  );
  return {
    privateKey,
    keyPem: x509.PemConverter.encode(pkcs8, "PRIVATE KEY") + "\n",
    csrPem: csr.toString("pem") + "\n",
  };
}

/** What a CSR asks for. */
export interface CsrInfo {
  /** The subject's CN, or "" without one. */
  commonName: string;
  /** SAN dNSNames of the extension request. */
  dnsNames: string[];
  /** SAN IP addresses of the extension request. */
  ipAddresses: string[];
  /** "ECDSA P-256", "ECDSA P-384", "RSA 2048", ... */
  keyAlgorithm: "ECDSA P-256" | string;
  /** True when the CSR's self-signature verifies with its own public key (proof of possession). */
  signatureValid: boolean;
  /** DER of the SubjectPublicKeyInfo, to compare with an issued certificate's key. */
  publicKeyDer: ArrayBuffer;
}

/** Reads a CSR and verifies its signature; throws PKI_INVALID when it is not a CSR at all. */
export async function inspectCsr(csrPem: string): Promise<CsrInfo> {
  const csr = parsePem(csrPem, "CSR", (p) => new x509.Pkcs10CertificateRequest(p));
  let signatureValid = false;
  try {
    signatureValid = await csr.verify();
  } catch {
    signatureValid = false; // an unsupported or broken key cannot prove possession
  }
  return {
    commonName: commonName(csr.subjectName),
    ...altNames(csr.extensions),
    keyAlgorithm: keyAlgorithmName(csr.publicKey.algorithm),
    signatureValid,
    publicKeyDer: csr.publicKey.rawData,
  };
}

/** Facts about one certificate. */
export interface CertInfo {
  /** The subject's CN, or "". */
  subjectCn: string;
  /** SAN dNSNames. */
  dnsNames: string[];
  /** SAN IP addresses. */
  ipAddresses: string[];
  /** The issuer's CN, or "". */
  issuerCn: string;
  /** Serial number, lower-case hex. */
  serial: string;
  /** Start of validity. */
  notBefore: Date;
  /** End of validity. */
  notAfter: Date;
  /** SHA-256 of the DER, lower-case hex without separators. */
  fingerprintSha256: string;
  /** The subject public key (SPKI DER), to compare with a CSR's. */
  publicKeyDer: ArrayBuffer;
}

/** SHA-256 of a certificate's DER as lower-case hex: the value provisioning tokens pin. */
export async function fingerprintSha256(certPem: string): Promise<string> {
  const [cert] = parseCertificates(certPem, "certificate");
  return hex(await crypto.subtle.digest("SHA-256", cert!.rawData));
}

/** Reads the first certificate of PEM text. */
export async function certInfo(certPem: string): Promise<CertInfo> {
  const [cert] = parseCertificates(certPem, "certificate");
  return {
    subjectCn: commonName(cert!.subjectName),
    ...altNames(cert!.extensions),
    issuerCn: commonName(cert!.issuerName),
    serial: cert!.serialNumber.toLowerCase(),
    notBefore: cert!.notBefore,
    notAfter: cert!.notAfter,
    fingerprintSha256: hex(await crypto.subtle.digest("SHA-256", cert!.rawData)),
    publicKeyDer: cert!.publicKey.rawData,
  };
}

const ECDSA_SHA256 = { name: "ECDSA", hash: "SHA-256" } as const;

/**
 * Signs `data` (UTF-8) with a P-256 private key (PKCS#8 PEM): proof that the holder of a
 * certificate has its key, e.g. for renewal. Returns the IEEE P1363 signature, base64.
 */
export async function signWithKey(keyPem: string, data: string): Promise<string> {
  const body = keyPem.replace(/-----(BEGIN|END) PRIVATE KEY-----/g, "").replace(/\s+/g, "");
  const key = await crypto.subtle.importKey(
    "pkcs8",
    Uint8Array.from(atob(body), (c) => c.charCodeAt(0)),
    { name: "ECDSA", namedCurve: "P-256" },
    false,
    ["sign"],
  );
  const sig = new Uint8Array(
    await crypto.subtle.sign(ECDSA_SHA256, key, new TextEncoder().encode(data)),
  );
  return btoa(String.fromCharCode(...sig));
}

/** True when `signature` (base64, from signWithKey) is the certificate key's over `data`. */
export async function verifyWithCert(
  certPem: string,
  data: string,
  signature: string,
): Promise<boolean> {
  const [cert] = parseCertificates(certPem, "certificate");
  let sig: Uint8Array<ArrayBuffer>;
  try {
    sig = Uint8Array.from(atob(signature), (c) => c.charCodeAt(0));
  } catch {
    return false;
  }
  const key = await cert!.publicKey.export(
    { name: "ECDSA", namedCurve: "P-256" },
    ["verify"],
  );
  return await crypto.subtle.verify(ECDSA_SHA256, key, sig, new TextEncoder().encode(data));
}

/** Options of verifyIssuedBy. */
export interface VerifyOptions {
  /** The time at which both certificates must be valid. */
  now: Date;
}

/**
 * True when the certificate's issuer is the CA's subject, its signature verifies with the CA's
 * key, and both are valid at `now`; false otherwise (never throws for a mismatch).
 */
export async function verifyIssuedBy(
  certPem: string,
  caPem: string,
  options: VerifyOptions,
): Promise<boolean> {
  const [cert] = parseCertificates(certPem, "certificate");
  const [ca] = parseCertificates(caPem, "CA certificate");
  const t = options.now.getTime();
  const valid = (c: x509.X509Certificate) =>
    c.notBefore.getTime() <= t && t <= c.notAfter.getTime();
  if (!valid(cert!) || !valid(ca!)) return false;
  if (cert!.issuer !== ca!.subject) return false;
  try {
    return await cert!.verify({ publicKey: ca!.publicKey, signatureOnly: true });
  } catch {
    return false;
  }
}
