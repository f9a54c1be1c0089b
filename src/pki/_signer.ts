/**
 * The Signer port (CSR in, certificate and chain out), the CSR policy every signer applies,
 * and the built-in file CA signer for development, tests and small fleets.
 * @module
 */
import {
  type CertAndKey,
  certInfo,
  checkDays,
  checkIdentity,
  generateKeyAndCsr,
  inspectCsr,
  randomSerial,
} from "./_ca.ts";
import {
  DAY_MS,
  P256,
  parseCertificates,
  parsePem,
  pkiError,
  sameBytes,
  sameSet,
  SKEW_MS,
  x509,
} from "./_x509.ts";

/** What a certificate is for: a node's client certificate, or a service's server certificate. */
export type CertUsage = "client" | "server";

/** One request to sign a CSR. */
export interface SignRequest {
  /** The PKCS#10 request PEM. */
  csrPem: string;
  /** The identity the certificate is for; its CN (and, for client certificates, its only SAN). */
  identity: string;
  /** EKU clientAuth or serverAuth. */
  usage: CertUsage;
  /** Server certificates: SAN dNSNames. @default [identity] */
  dnsNames?: string[];
  /** Server certificates: SAN IP addresses. @default [] */
  ipAddresses?: string[];
  /** Validity in days from `now`. */
  days: number;
  /** The current time; notBefore is 5 minutes earlier. */
  now: Date;
}

/** An issued certificate. */
export interface SignResult {
  /** The leaf certificate PEM. */
  certPem: string;
  /** The issuing CA certificate(s), PEM, issuer first. */
  chainPem: string;
}

/** The Signer port: turns an accepted CSR into a certificate. */
export interface Signer {
  /** Signs the request, or throws ScoutError CSR_REFUSED / SIGNER_FAILED. */
  sign(request: SignRequest): Promise<SignResult>;
}

/** The names a request's certificate must carry. */
export function requestedNames(req: SignRequest): { dnsNames: string[]; ipAddresses: string[] } {
  if (req.usage === "client") return { dnsNames: [req.identity], ipAddresses: [] };
  return { dnsNames: req.dnsNames ?? [req.identity], ipAddresses: req.ipAddresses ?? [] };
}

function refuse(message: string, hint: string, context: Record<string, unknown>): never {
  throw pkiError("CSR_REFUSED", message, { hint, context });
}

/**
 * The CSR policy of every signer: the CSR parses, its signature verifies (the requester holds
 * the key), its key is ECDSA P-256, its CN is the identity, and for a client certificate its
 * SANs are exactly dNSName=identity. Returns the CSR's public key (DER SubjectPublicKeyInfo).
 */
export async function checkCsr(req: SignRequest): Promise<ArrayBuffer> {
  checkIdentity(req.identity);
  checkDays(req.days);
  const context = { identity: req.identity, usage: req.usage };
  let info;
  try {
    info = await inspectCsr(req.csrPem);
  } catch (e) {
    refuse(
      `the CSR cannot be read: ${(e as Error).message}`,
      "send a PEM PKCS#10 request",
      context,
    );
  }
  if (!info.signatureValid) {
    refuse("the CSR's signature does not verify", "send the CSR unmodified, as generated", context);
  }
  if (info.keyAlgorithm !== "ECDSA P-256") {
    refuse(
      `the CSR's key is ${info.keyAlgorithm}, not ECDSA P-256`,
      "generate an ECDSA P-256 key (scout does so by itself)",
      { ...context, keyAlgorithm: info.keyAlgorithm },
    );
  }
  if (info.commonName !== req.identity) {
    refuse(
      `the CSR's CN ${JSON.stringify(info.commonName)} is not the identity ${
        JSON.stringify(req.identity)
      }`,
      "make the CSR with CN set to the node's identity",
      { ...context, commonName: info.commonName },
    );
  }
  if (req.usage === "client") {
    if (info.ipAddresses.length > 0 || !sameSet(info.dnsNames, [req.identity])) {
      refuse(
        "the CSR's subject alternative names are not exactly dNSName=identity",
        "a client CSR carries SAN dNSName=<identity> and nothing else",
        { ...context, dnsNames: info.dnsNames, ipAddresses: info.ipAddresses },
      );
    }
  }
  return info.publicKeyDer;
}

/** The CA's parsed certificate and signing key, checked to belong together. */
interface LoadedCa {
  cert: x509.X509Certificate;
  key: CryptoKey;
  skiKeyId: string | undefined;
}

async function loadCa(ca: CertAndKey): Promise<LoadedCa> {
  const [cert] = parseCertificates(ca.certPem, "CA certificate");
  const bc = cert!.getExtension(x509.BasicConstraintsExtension);
  if (!bc?.ca) {
    throw pkiError("PKI_INVALID", "the CA certificate is not a CA (basicConstraints CA:false)", {
      hint: "use a certificate made by `scout ca init`, or one with CA:true",
    });
  }
  if (/-----BEGIN EC PRIVATE KEY-----/.test(ca.keyPem)) {
    throw pkiError("PKI_INVALID", "the CA key is in SEC1 form, not PKCS#8", {
      hint: "convert it: openssl pkcs8 -topk8 -nocrypt -in ca.key -out ca.pk8.key",
    });
  }
  const pkcs8 = parsePem(
    ca.keyPem,
    "CA key",
    (p) => x509.PemConverter.decodeFirst(p),
  );
  let key: CryptoKey;
  let jwk: JsonWebKey;
  try {
    const extractable = await crypto.subtle.importKey(
      "pkcs8",
      pkcs8,
      { name: "ECDSA", namedCurve: "P-256" },
      true,
      ["sign"],
    );
    jwk = await crypto.subtle.exportKey("jwk", extractable);
    key = await crypto.subtle.importKey(
      "pkcs8",
      pkcs8,
      { name: "ECDSA", namedCurve: "P-256" },
      false,
      ["sign"],
    );
  } catch (e) {
    throw pkiError("PKI_INVALID", `the CA key is not an ECDSA P-256 PKCS#8 key`, {
      hint: "use the ca.key written by `scout ca init`",
      cause: e,
    });
  }
  const pub = await crypto.subtle.exportKey("jwk", await cert!.publicKey.export());
  if (pub.x !== jwk.x || pub.y !== jwk.y) {
    throw pkiError("PKI_INVALID", "the CA key does not belong to the CA certificate", {
      hint: "give the key file that was made together with the CA certificate",
    });
  }
  const ski = cert!.getExtension(x509.SubjectKeyIdentifierExtension);
  return { cert: cert!, key, skiKeyId: ski?.keyId };
}

/**
 * A Signer backed by a CA certificate and key held in memory (files of `scout ca init`).
 * It applies checkCsr, then issues: random 16-byte serial, subject CN=identity, SANs as
 * requested, EKU clientAuth or serverAuth, keyUsage digitalSignature, CA:false, AKI and SKI,
 * valid from now-5min to now+days. A CA certificate or key that is unusable makes sign()
 * throw PKI_INVALID.
 */
export function fileCaSigner(ca: CertAndKey): Signer {
  let loaded: Promise<LoadedCa> | undefined;
  return {
    async sign(req) {
      const caP = loaded ??= loadCa(ca);
      caP.catch(() => loaded = undefined); // a failure is reported on each call, not cached
      const { cert: caCert, key, skiKeyId } = await caP;
      const spki = await checkCsr(req);
      const { dnsNames, ipAddresses } = requestedNames(req);
      const publicKey = new x509.PublicKey(spki);
      const now = req.now.getTime();
      const san = [
        ...dnsNames.map((value) => ({ type: "dns" as const, value })),
        ...ipAddresses.map((value) => ({ type: "ip" as const, value })),
      ];
      let cert: x509.X509Certificate;
      try {
        cert = await x509.X509CertificateGenerator.create({
          serialNumber: randomSerial(),
          subject: [{ CN: [req.identity] }],
          issuer: caCert.subjectName,
          notBefore: new Date(now - SKEW_MS),
          notAfter: new Date(now + req.days * DAY_MS),
          publicKey,
          signingKey: key,
          signingAlgorithm: P256,
          extensions: [
            new x509.BasicConstraintsExtension(false, undefined, true),
            new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
            new x509.ExtendedKeyUsageExtension([
              req.usage === "client"
                ? x509.ExtendedKeyUsage.clientAuth
                : x509.ExtendedKeyUsage.serverAuth,
            ]),
            new x509.SubjectAlternativeNameExtension(san),
            skiKeyId === undefined
              ? await x509.AuthorityKeyIdentifierExtension.create(await caCert.publicKey.export())
              : new x509.AuthorityKeyIdentifierExtension(skiKeyId),
            await x509.SubjectKeyIdentifierExtension.create(await publicKey.export()),
          ],
        });
      } catch (e) {
        // A malformed IP address or DNS name in the request.
        throw pkiError("CSR_REFUSED", `cannot issue the certificate: ${(e as Error).message}`, {
          hint: "check the requested DNS names and IP addresses",
          context: { identity: req.identity, dnsNames, ipAddresses },
          cause: e,
        });
      }
      if (!sameBytes(cert.publicKey.rawData, spki)) {
        throw pkiError("SIGNER_FAILED", "the issued certificate does not carry the CSR's key", {
          hint: "this is a bug in the file CA signer; report it",
        });
      }
      return { certPem: cert.toString("pem") + "\n", chainPem: caCert.toString("pem") + "\n" };
    },
  };
}

/** A server certificate with a fresh key, and when to renew it. */
export interface ServerCertificate {
  /** The certificate followed by its chain, PEM (what a TLS server presents). */
  certPem: string;
  /** Its fresh private key, PKCS#8 PEM. */
  keyPem: string;
  /** Validity, ms since the epoch. */
  notBeforeMs: number;
  /** Expiry, ms since the epoch. */
  notAfterMs: number;
  /** Two thirds into its life: when a server should get a new one. */
  renewAtMs: number;
}

/**
 * Issues a server certificate (EKU serverAuth) for a fresh key through any signer: the names
 * that look like IP addresses become IP SANs, the others DNS SANs (the identity when none).
 * The hub's enrolment listener and the managed broker use it for their own certificates.
 */
export async function issueServerCertificate(
  signer: Signer,
  o: { identity: string; names: string[]; days: number; now: Date },
): Promise<ServerCertificate> {
  const isIp = (n: string) => /^\d{1,3}(\.\d{1,3}){3}$/.test(n) || n.includes(":");
  const ipAddresses = o.names.filter(isIp);
  const dnsNames = o.names.filter((n) => !isIp(n));
  const { keyPem, csrPem } = await generateKeyAndCsr(o.identity);
  const signed = await signer.sign({
    csrPem,
    identity: o.identity,
    usage: "server",
    dnsNames: dnsNames.length > 0 ? dnsNames : [o.identity],
    ipAddresses,
    days: o.days,
    now: o.now,
  });
  const info = await certInfo(signed.certPem);
  const notBeforeMs = info.notBefore.getTime(), notAfterMs = info.notAfter.getTime();
  return {
    certPem: signed.certPem.trimEnd() + "\n" + signed.chainPem,
    keyPem,
    notBeforeMs,
    notAfterMs,
    renewAtMs: notBeforeMs + Math.floor((notAfterMs - notBeforeMs) * 2 / 3),
  };
}
