/**
 * The external signer: any program (a cfssl, step-ca or cert-manager wrapper, the openssl
 * example) that reads one JSON request on stdin and prints one JSON reply on stdout.
 * @module
 */
import { z } from "zod";
import { checkCsr, requestedNames, type Signer, type SignRequest } from "./_signer.ts";
import {
  altNames,
  commonName,
  parseCertificates,
  pkiError,
  sameBytes,
  sameSet,
  x509,
} from "./_x509.ts";

/** The port the program signer runs its program through: runtime's StdinRunner. */
export type { StdinRunner, StdinRunRequest, StdinRunResult } from "../runtime/mod.ts";
import type { StdinRunner } from "../runtime/mod.ts";

/** Options of programSigner. */
export interface ProgramSignerOptions {
  /** Absolute path of the signer program. */
  program: string;
  /** Its arguments. @default [] */
  args?: string[];
  /** Its complete environment (PATH, the CA's location, credentials). @default {} */
  env?: Record<string, string>;
  /** Runs the program. */
  runner: StdinRunner;
  /** The program is killed after this. @default 30000 */
  timeoutMs?: number;
}

/** The reply a signer program prints on stdout. */
const SignerReply = z.object({
  certificate: z.string().min(1),
  chain: z.string().min(1),
});

/** The request a signer program reads on stdin (the documented wire format). */
export interface SignerProgramInput {
  /** The CSR, PEM. */
  csr: string;
  /** The identity; CN of the certificate. */
  identity: string;
  /** "client" or "server". */
  usage: "client" | "server";
  /** SAN dNSNames to put in the certificate. */
  dns_names: string[];
  /** SAN IP addresses to put in the certificate. */
  ip_addresses: string[];
  /** Validity in days. */
  days: number;
}

/** Most characters of the program's stderr kept in an error's context. */
const STDERR_CAP = 4096;

function capped(text: string): string {
  return text.length > STDERR_CAP ? `${text.slice(0, STDERR_CAP)}... [cut]` : text;
}

/**
 * A Signer that runs an external program. The program gets on stdin one JSON object
 * `{"csr", "identity", "usage", "dns_names", "ip_addresses", "days"}` and must print one JSON
 * object `{"certificate": PEM, "chain": PEM}` on stdout and exit 0. The CSR is checked first
 * (checkCsr: CSR_REFUSED). Any failure of the program, including a certificate whose key is
 * not the CSR's, whose names or EKU differ from the request, or that no certificate of the
 * chain signed, is SIGNER_FAILED with the program's stderr (capped) in the context.
 */
export function programSigner(options: ProgramSignerOptions): Signer {
  const timeoutMs = options.timeoutMs ?? 30_000;
  return {
    async sign(req: SignRequest) {
      const spki = await checkCsr(req);
      const names = requestedNames(req);
      const input: SignerProgramInput = {
        csr: req.csrPem,
        identity: req.identity,
        usage: req.usage,
        dns_names: names.dnsNames,
        ip_addresses: names.ipAddresses,
        days: req.days,
      };
      const result = await options.runner.run({
        cmd: options.program,
        args: options.args ?? [],
        env: options.env ?? {},
        stdin: JSON.stringify(input) + "\n",
        timeoutMs,
      });
      const context = {
        program: options.program,
        identity: req.identity,
        code: result.code,
        stderr: capped(result.stderr),
      };
      const fail = (message: string, hint: string): never => {
        throw pkiError("SIGNER_FAILED", `signer ${options.program}: ${message}`, {
          hint,
          context,
        });
      };
      if (result.timedOut) {
        fail(
          `no answer within ${timeoutMs} ms; killed`,
          "check that the signer program reads stdin to its end and does not wait for input",
        );
      }
      if (result.code !== 0) {
        const last = result.stderr.trim().split("\n").pop() ?? "";
        fail(
          result.code === null ? `did not finish: ${last}` : `exited ${result.code}: ${last}`,
          "see the signer's stderr in the context; run it by hand with the same JSON on stdin",
        );
      }
      let json: unknown;
      try {
        json = JSON.parse(result.stdout);
      } catch {
        fail(
          "its output is not one JSON object",
          'print exactly one JSON object {"certificate": PEM, "chain": PEM} on stdout',
        );
      }
      const reply = SignerReply.safeParse(json);
      if (!reply.success) {
        fail(
          `its reply lacks "certificate" or "chain": ${reply.error.issues[0]?.message ?? ""}`,
          'print {"certificate": PEM, "chain": PEM}, both non-empty strings',
        );
      }
      const { certificate, chain } = reply.data!;
      let cert: x509.X509Certificate, chainCerts: x509.X509Certificate[];
      try {
        [cert] = parseCertificates(certificate, "certificate") as [x509.X509Certificate];
        chainCerts = parseCertificates(chain, "chain");
      } catch (e) {
        return fail((e as Error).message, "return PEM certificates in both fields");
      }
      if (!sameBytes(cert.publicKey.rawData, spki)) {
        fail(
          "the certificate is not for the CSR's key",
          "sign the CSR that was given on stdin, not another one",
        );
      }
      const got = altNames(cert.extensions);
      if (
        commonName(cert.subjectName) !== req.identity ||
        !sameSet(got.dnsNames, names.dnsNames) || !sameSet(got.ipAddresses, names.ipAddresses)
      ) {
        fail(
          `the certificate's names (CN ${JSON.stringify(commonName(cert.subjectName))}, DNS ${
            JSON.stringify(got.dnsNames)
          }, IP ${JSON.stringify(got.ipAddresses)}) differ from the request`,
          "set CN=identity and exactly the SANs of dns_names and ip_addresses",
        );
      }
      const eku = cert.getExtension(x509.ExtendedKeyUsageExtension);
      const want = req.usage === "client"
        ? x509.ExtendedKeyUsage.clientAuth
        : x509.ExtendedKeyUsage.serverAuth;
      if (eku && !eku.usages.includes(want)) {
        fail(
          `the certificate lacks EKU ${req.usage}Auth`,
          `add extendedKeyUsage=${req.usage}Auth`,
        );
      }
      let signed = false;
      for (const c of chainCerts) {
        try {
          if (await cert.verify({ publicKey: c.publicKey, signatureOnly: true })) signed = true;
        } catch {
          // another key type: not this issuer
        }
      }
      if (!signed) {
        fail(
          "no certificate of the chain signed the certificate",
          "return the issuing CA certificate first in chain",
        );
      }
      return { certPem: cert.toString("pem") + "\n", chainPem: chain.trim() + "\n" };
    },
  };
}
