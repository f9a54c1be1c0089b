/**
 * The agent's side of enrolment: make a key on the device, send a CSR with the provisioning
 * token to the hub (whose certificate must chain to the CA the token pins), check what comes
 * back, and renew before expiry with the current certificate instead of a token.
 * The private key never leaves this module except as the PEM the caller stores (0600).
 * @module
 */
import { z } from "zod";
import { ScoutError } from "../errors.ts";
import {
  certInfo,
  generateKeyAndCsr,
  inspectCsr,
  signWithKey,
  verifyIssuedBy,
} from "../pki/mod.ts";
import type { PinnedHttps } from "../runtime/mod.ts";

/** Paths of the hub's enrolment endpoints (EST, RFC 7030 names). */
export const EST_PATHS = {
  cacerts: "/.well-known/est/cacerts",
  enrol: "/.well-known/est/simpleenroll",
  reenrol: "/.well-known/est/simplereenroll",
} as const;

const replySchema = z.object({
  identity: z.string(),
  certificate: z.string(),
  chain: z.string(),
  ca: z.string(),
  config: z.object({
    brokers: z.array(z.string()).min(1),
    groups: z.array(z.string()).default([]),
    issuers: z.array(z.string()).default([]),
  }),
});

/** What enrolment gives the agent; stored in `<state-dir>/tls/` (key 0600). */
export interface Enrolment {
  /** The identity the certificate names. */
  identity: string;
  /** The device's private key, PKCS#8 PEM. */
  keyPem: string;
  /** The node certificate, PEM. */
  certPem: string;
  /** The issuing chain, PEM. */
  chainPem: string;
  /** The fleet CA, PEM. */
  caPem: string;
  /** Fleet broker URLs. */
  brokers: string[];
  /** The node's groups. */
  groups: string[];
  /** Trusted issuers of operator tokens (CA PEM or JWKS JSON), for the node's RPC API. */
  issuers: string[];
  /** Enrolment URLs that worked (renewal goes there). */
  hubUrls: string[];
  /** Certificate validity, ms since the epoch. */
  notBeforeMs: number;
  /** Certificate expiry, ms since the epoch. */
  notAfterMs: number;
}

/** Stored form of an Enrolment (everything but the key, which has its own 0600 file). */
export const enrolmentSchema: z.ZodType<Omit<Enrolment, "keyPem">> = z.object({
  identity: z.string(),
  certPem: z.string(),
  chainPem: z.string(),
  caPem: z.string(),
  brokers: z.array(z.string()),
  groups: z.array(z.string()),
  issuers: z.array(z.string()).default([]),
  hubUrls: z.array(z.string()),
  notBeforeMs: z.number(),
  notAfterMs: z.number(),
});

/** Ports of enrol and renew. */
export interface EnrolDeps {
  /** Makes an HTTPS client that trusts only the given CA. */
  https(caPem: string): PinnedHttps;
  /** The current time. */
  now(): Date;
}

function endpoint(base: string, path: string): string {
  return new URL(path, base.endsWith("/") ? base : `${base}/`).toString();
}

async function post(
  deps: EnrolDeps,
  caPem: string,
  urls: string[],
  path: string,
  body: unknown,
  headers: Record<string, string>,
): Promise<{ reply: z.infer<typeof replySchema>; url: string }> {
  const https = deps.https(caPem);
  const failures: string[] = [];
  try {
    for (const url of urls) {
      try {
        const r = await https.postJson(endpoint(url, path), body, headers);
        if (r.status !== 200) {
          const why = (r.body as { error?: unknown } | null)?.error;
          // A refusal is an answer: asking the next hub would not change it.
          throw new ScoutError("ENROL_REFUSED", `${url} refused: ${String(why ?? r.status)}`, {
            context: { url, status: r.status },
            hint: r.status === 401 || r.status === 403
              ? "issue a new provisioning token (scout-hub token provisioning) or ask the hub's operator"
              : "see the hub's log",
          });
        }
        const parsed = replySchema.safeParse(r.body);
        if (!parsed.success) {
          failures.push(`${url}: the reply is not an enrolment reply`);
          continue;
        }
        return { reply: parsed.data, url };
      } catch (e) {
        if (e instanceof ScoutError && e.code === "ENROL_REFUSED") throw e;
        const cause = (e as Error).cause;
        const why = cause instanceof Error
          ? `${(e as Error).message}: ${cause.message}`
          : String(e);
        failures.push(`${url}: ${why}`);
      }
    }
  } finally {
    https.close();
  }
  throw new ScoutError("ENROL_UNREACHABLE", `No enrolment URL answered: ${failures.join("; ")}`, {
    context: { urls },
    hint: "the hub may be down (enrolment is retried) or its certificate is not from the pinned CA",
  });
}

async function accept(
  reply: z.infer<typeof replySchema>,
  expected: { identity: string; caPem: string; keyPem: string; csrPem: string },
  url: string,
  now: Date,
): Promise<Enrolment> {
  const refuse = (why: string) =>
    new ScoutError("ENROL_BAD_REPLY", `The hub at ${url} sent an unusable certificate: ${why}`, {
      context: { url },
      hint: "the hub's signer is misconfigured; see its log",
    });
  if (reply.identity !== expected.identity) throw refuse(`it names "${reply.identity}"`);
  const info = await certInfo(reply.certificate);
  if (info.subjectCn !== expected.identity) throw refuse(`its subject is "${info.subjectCn}"`);
  const ours = (await inspectCsr(expected.csrPem)).publicKeyDer;
  if (!sameBytes(info.publicKeyDer, ours)) throw refuse("it is not for this device's key");
  if (!(await verifyIssuedBy(reply.certificate, expected.caPem, { now }))) {
    throw refuse("it is not issued by the pinned fleet CA, or not valid now");
  }
  return {
    identity: expected.identity,
    keyPem: expected.keyPem,
    certPem: reply.certificate,
    chainPem: reply.chain,
    caPem: expected.caPem,
    brokers: reply.config.brokers,
    groups: reply.config.groups,
    issuers: reply.config.issuers,
    hubUrls: [url],
    notBeforeMs: info.notBefore.getTime(),
    notAfterMs: info.notAfter.getTime(),
  };
}

/**
 * Enrols with a provisioning token: a fresh key and CSR, POSTed to each URL in turn.
 *
 * @param req identity, token, where to enrol and the pinned CA (PEM, from the token)
 * @param deps HTTPS and time
 * @returns the enrolment (key included)
 */
export async function enrol(
  req: { identity: string; token: string; urls: string[]; caPem: string },
  deps: EnrolDeps,
): Promise<Enrolment> {
  const keys = await generateKeyAndCsr(req.identity);
  const { reply, url } = await post(deps, req.caPem, req.urls, EST_PATHS.enrol, {
    csr: keys.csrPem,
  }, { authorization: `Bearer ${req.token}` });
  const expected = { identity: req.identity, caPem: req.caPem, ...keys };
  return await accept(reply, expected, url, deps.now());
}

/**
 * Renews with the current certificate (no token): a new key and CSR, signed for proof of
 * possession with the current key.
 *
 * @param current the enrolment in use
 * @param deps HTTPS and time
 * @returns the new enrolment
 */
export async function renew(current: Enrolment, deps: EnrolDeps): Promise<Enrolment> {
  const keys = await generateKeyAndCsr(current.identity);
  const { reply, url } = await post(deps, current.caPem, current.hubUrls, EST_PATHS.reenrol, {
    csr: keys.csrPem,
    certificate: current.certPem,
    signature: await signWithKey(current.keyPem, keys.csrPem),
  }, {});
  const expected = { identity: current.identity, caPem: current.caPem, ...keys };
  return { ...(await accept(reply, expected, url, deps.now())), hubUrls: current.hubUrls };
}

function sameBytes(a: ArrayBuffer, b: ArrayBuffer): boolean {
  const x = new Uint8Array(a), y = new Uint8Array(b);
  return x.length === y.length && x.every((v, i) => v === y[i]);
}

/**
 * When to renew: at two thirds of the certificate's lifetime.
 *
 * @param e the enrolment
 * @returns ms since the epoch
 */
export function renewAtMs(e: Pick<Enrolment, "notBeforeMs" | "notAfterMs">): number {
  return e.notBeforeMs + Math.floor((e.notAfterMs - e.notBeforeMs) * 2 / 3);
}
