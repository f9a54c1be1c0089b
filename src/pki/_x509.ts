/**
 * Shared helpers of the PKI module: the x509 library (loaded with the reflect-metadata shim it
 * needs), the module's errors, and small readers of names, keys and PEM.
 * @module
 */
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { type ErrorCode, ScoutError } from "../errors.ts";

export { x509 };

/** The signature and key algorithm of everything this module makes. */
export const P256 = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;

/** Milliseconds in a day. */
export const DAY_MS = 86_400_000;

/** Backdating of notBefore, so a freshly issued certificate survives small clock skew. */
export const SKEW_MS = 5 * 60_000;

/** Error codes of this module. */
export type PkiErrorCode = Extract<ErrorCode, "CSR_REFUSED" | "SIGNER_FAILED" | "PKI_INVALID">;

/** Makes a ScoutError with one of the PKI codes. */
export function pkiError(
  code: PkiErrorCode,
  message: string,
  options: { hint: string; context?: Record<string, unknown>; cause?: unknown },
): ScoutError {
  return new ScoutError(code, message, options);
}

/** Lower-case hex of bytes. */
export function hex(bytes: ArrayBuffer | Uint8Array): string {
  const view = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  return Array.from(view, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Names a key algorithm as people read it: "ECDSA P-256", "RSA 2048", "Ed25519". */
export function keyAlgorithmName(alg: Algorithm): string {
  const a = alg as Algorithm & { namedCurve?: string; modulusLength?: number };
  if (a.name === "ECDSA" || a.name === "ECDH") return `ECDSA ${a.namedCurve ?? "unknown curve"}`;
  if (a.name.startsWith("RSA")) return `RSA ${a.modulusLength ?? "?"}`;
  return a.name;
}

/** The SAN names of a certificate or CSR, split by kind. */
export function altNames(
  extensions: readonly x509.Extension[],
): { dnsNames: string[]; ipAddresses: string[] } {
  const dnsNames: string[] = [], ipAddresses: string[] = [];
  for (const ext of extensions) {
    if (!(ext instanceof x509.SubjectAlternativeNameExtension)) continue;
    for (const n of ext.names.items) {
      if (n.type === "dns") dnsNames.push(n.value);
      else if (n.type === "ip") ipAddresses.push(n.value);
    }
  }
  return { dnsNames, ipAddresses };
}

/** The first CN of a name, or "". */
export function commonName(name: x509.Name): string {
  return name.getField("CN")[0] ?? "";
}

/** DER bytes of the first PEM block with the given label; throws PKI_INVALID otherwise. */
export function parsePem<T>(pem: string, what: string, make: (pem: string) => T): T {
  if (typeof pem !== "string" || !pem.includes("-----BEGIN ")) {
    throw pkiError("PKI_INVALID", `${what} is not PEM text`, {
      hint: `give the ${what} as PEM ("-----BEGIN ...")`,
    });
  }
  try {
    return make(pem);
  } catch (e) {
    throw pkiError("PKI_INVALID", `${what} cannot be parsed: ${(e as Error).message}`, {
      hint: `check that the ${what} is a complete, unmodified PEM block`,
      cause: e,
    });
  }
}

/** Splits PEM text into its certificates (in order); throws PKI_INVALID for anything else. */
export function parseCertificates(pem: string, what: string): x509.X509Certificate[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) {
    throw pkiError("PKI_INVALID", `${what} holds no PEM certificate`, {
      hint: `give the ${what} as PEM ("-----BEGIN CERTIFICATE-----")`,
    });
  }
  return blocks.map((b) => parsePem(b, what, (p) => new x509.X509Certificate(p)));
}

/** Equal bytes. */
export function sameBytes(a: ArrayBuffer, b: ArrayBuffer): boolean {
  if (a.byteLength !== b.byteLength) return false;
  const x = new Uint8Array(a), y = new Uint8Array(b);
  return x.every((v, i) => v === y[i]);
}

/** Equal string sets (order and duplicates ignored). */
export function sameSet(a: readonly string[], b: readonly string[]): boolean {
  const x = new Set(a), y = new Set(b);
  return x.size === y.size && [...x].every((v) => y.has(v));
}
