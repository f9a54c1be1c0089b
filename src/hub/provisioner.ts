/**
 * The hub's provisioner: EST-style enrolment over HTTPS (RFC 7030 simpleenroll and
 * simplereenroll semantics, JSON bodies so the reply can carry the node's configuration).
 *
 * - `GET /.well-known/est/cacerts`: the fleet CA certificate (PEM).
 * - `POST /.well-known/est/simpleenroll`, `Authorization: Bearer <provisioning token>`, body
 *   `{"csr": PEM}`: the token is verified (signature by the fleet CA, expiry, purpose, single
 *   use), the CSR's identity must match the token's identity pattern and not be denied; the
 *   signer issues a client certificate; the reply is {@link EnrolReply}.
 * - `POST /.well-known/est/simplereenroll`, body `{"csr": PEM, "certificate": PEM,
 *   "signature": base64}`: renewal without a token. The current certificate must be issued by
 *   the fleet CA, unexpired and not denied, the CSR must name the same identity, and
 *   `signature` (ECDSA P-256 SHA-256, IEEE P1363, over the UTF-8 bytes of the CSR PEM) must
 *   verify with the current certificate's key: proof of possession, as TLS client
 *   authentication would give (Deno.serve cannot ask for client certificates).
 *
 * Every decision is logged (identity, decision, reason). State (used single-use token ids,
 * enrolled nodes, denied identities) is kept in `<state-dir>/provisioner/state.json`, written
 * atomically before a reply leaves.
 * @module
 */
import { z } from "zod";
import { ScoutError } from "../errors.ts";
import { certInfo, inspectCsr, type Signer, verifyIssuedBy, verifyWithCert } from "../pki/mod.ts";
import { EST_PATHS, identityAllowed, verifyProvisioningToken } from "../provisioning/mod.ts";
import type { Clock, Fs, Logger } from "../runtime/mod.ts";
import { IDENTITY_PATTERN } from "../config/mod.ts";

/** Largest request body accepted, bytes. */
export const MAX_BODY_BYTES = 64 * 1024;

/** What a node learns when it enrols. */
export interface NodeConfig {
  /** Fleet broker URLs (tls://host:port). */
  brokers: string[];
  /** The node's groups (keys `group.<name>` of pushed checks). */
  groups: string[];
  /**
   * Trusted issuers of operator tokens for the node's RPC API: CA certificates (PEM) or JWKS
   * documents (JSON). The fleet CA is always the first.
   */
  issuers?: string[];
}

/** The JSON reply of simpleenroll and simplereenroll. */
export interface EnrolReply {
  /** The identity the certificate names. */
  identity: string;
  /** The node's certificate, PEM. */
  certificate: string;
  /** The issuing chain, PEM (the fleet CA last). */
  chain: string;
  /** The fleet CA certificate, PEM. */
  ca: string;
  /** Where and how to join. */
  config: NodeConfig;
}

/** The provisioner's persistent state. */
export interface ProvisionerState {
  /** Single-use token ids already spent, with their expiry (ms) so they can be forgotten. */
  usedTokens: Record<string, number>;
  /**
   * Enrolled nodes: last certificate's serial and expiry, and the groups the token of their
   * last enrolment gave (renewals keep them).
   */
  nodes: Record<
    string,
    { serial: string; notAfterMs: number; enrolledAtMs: number; groups: string[] }
  >;
  /** Identities that may not enrol or renew. */
  denied: string[];
}

const stateSchema = z.object({
  usedTokens: z.record(z.string(), z.number()).default({}),
  nodes: z.record(
    z.string(),
    z.object({
      serial: z.string(),
      notAfterMs: z.number(),
      enrolledAtMs: z.number(),
      groups: z.array(z.string()).default([]),
    }),
  ).default({}),
  denied: z.array(z.string()).default([]),
});

const enrolBody = z.object({ csr: z.string().min(1).max(MAX_BODY_BYTES) }).strict();
const reenrolBody = z.object({
  csr: z.string().min(1).max(MAX_BODY_BYTES),
  certificate: z.string().min(1).max(MAX_BODY_BYTES),
  signature: z.string().min(1).max(1024),
}).strict();

/** Options of createProvisioner. */
export interface ProvisionerOptions {
  /** The fleet CA certificate (verifies tokens and certificates). */
  caCertPem: string;
  /** Issues node certificates. */
  signer: Signer;
  /** Lifetime of issued certificates, days. */
  certDays: number;
  /** The configuration handed to an enrolling node. */
  nodeConfig(identity: string): NodeConfig;
  /** Where state.json lives (`<state-dir>/provisioner`), or null to keep it in memory. */
  stateDir: string | null;
  /** Writes the state file. */
  fs: Fs;
  /** Time. */
  clock: Clock;
  /** Decisions are logged here. */
  logger: Logger;
  /** Tolerated clock skew for token times, ms. @default 60000 */
  clockSkewMs?: number;
  /**
   * Called with a copy of the state after each saved change (enrolment, renewal, deny or
   * allow), in order, before the reply leaves; its failure is logged, never the caller's.
   * @default none
   */
  onChange?(state: ProvisionerState): void | Promise<void>;
}

/** The provisioner: an HTTP handler plus its deny list. */
export interface Provisioner {
  /** Answers one HTTP request (mount it on an HTTPS server). */
  handle(req: Request): Promise<Response>;
  /** Denies (or re-allows) an identity; persisted. Returns the new deny list. */
  setDenied(identity: string, denied: boolean): Promise<string[]>;
  /** A copy of the current state. */
  state(): ProvisionerState;
}

/** A refusal: HTTP status and a reason safe to show the caller. */
class Refusal extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

function withFleetIssuer(c: NodeConfig, caCertPem: string): NodeConfig {
  return { ...c, issuers: [caCertPem, ...(c.issuers ?? []).filter((i) => i !== caCertPem)] };
}

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json" },
  });
}

async function readBody(req: Request): Promise<unknown> {
  const declared = Number(req.headers.get("content-length") ?? "0");
  if (declared > MAX_BODY_BYTES) {
    throw new Refusal(413, `request larger than ${MAX_BODY_BYTES} bytes`);
  }
  const text = await req.text();
  if (text.length > MAX_BODY_BYTES) {
    throw new Refusal(413, `request larger than ${MAX_BODY_BYTES} bytes`);
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new Refusal(400, "the body is not JSON");
  }
}

function parse<T>(schema: z.ZodType<T>, body: unknown): T {
  const r = schema.safeParse(body);
  if (!r.success) {
    const i = r.error.issues[0];
    throw new Refusal(
      400,
      `bad request: ${i?.path.join(".") || "body"}: ${i?.message ?? "invalid"}`,
    );
  }
  return r.data;
}

/**
 * Creates the provisioner. State is loaded from `stateDir` when given.
 *
 * @param opts CA, signer, node configuration and ports
 * @returns the provisioner
 */
export async function createProvisioner(opts: ProvisionerOptions): Promise<Provisioner> {
  const { clock, logger } = opts;
  const skew = opts.clockSkewMs ?? 60_000;
  const file = opts.stateDir === null ? null : `${opts.stateDir}/state.json`;
  let state: ProvisionerState = { usedTokens: {}, nodes: {}, denied: [] };
  if (file !== null) {
    try {
      state = stateSchema.parse(JSON.parse(await opts.fs.readText(file)));
    } catch (e) {
      if (!(e instanceof Error && e.name === "NotFound")) {
        throw new ScoutError("STATE_UNREADABLE", `Cannot read the provisioner state ${file}`, {
          context: { file },
          hint:
            "fix or remove the file (it lists used tokens, enrolled nodes and denied identities)",
          cause: e,
        });
      }
    }
  }
  // State changes are plain synchronous updates (a check and its mark cannot interleave with
  // another request's); writes are group-committed: requests arriving while a write runs share
  // the next one, so a burst of enrolments costs a few writes, not one each. A reply leaves
  // only after a write that includes its change has finished.
  let writing: Promise<void> | null = null;
  let queued: Promise<void> | null = null;

  async function writeNow(): Promise<void> {
    const now = clock.now();
    for (const [jti, exp] of Object.entries(state.usedTokens)) {
      if (exp + skew < now) delete state.usedTokens[jti];
    }
    if (file !== null) await opts.fs.writeAtomic(file, JSON.stringify(state) + "\n");
    if (opts.onChange) {
      try {
        await opts.onChange(structuredClone(state));
      } catch (e) {
        logger.error("the provisioner's change listener failed", { error: String(e) });
      }
    }
  }

  function save(): Promise<void> {
    if (queued) return queued;
    const start = async () => {
      queued = null;
      writing = writeNow();
      try {
        await writing;
      } finally {
        writing = null;
      }
    };
    queued = (writing ?? Promise.resolve()).catch(() => {}).then(start);
    return queued;
  }

  async function issue(identity: string, csrPem: string, groups: string[]): Promise<EnrolReply> {
    let signed;
    try {
      signed = await opts.signer.sign({
        csrPem,
        identity,
        usage: "client",
        days: opts.certDays,
        now: new Date(clock.now()),
      });
    } catch (e) {
      if (e instanceof ScoutError && e.code === "CSR_REFUSED") throw new Refusal(400, e.message);
      logger.error("the signer failed", { identity, error: String(e) });
      throw new Refusal(502, "the certificate could not be signed; see the hub's log");
    }
    const info = await certInfo(signed.certPem);
    state.nodes[identity] = {
      serial: info.serial,
      notAfterMs: info.notAfter.getTime(),
      enrolledAtMs: clock.now(),
      groups,
    };
    const config = opts.nodeConfig(identity);
    return {
      identity,
      certificate: signed.certPem,
      chain: signed.chainPem,
      ca: opts.caCertPem,
      config: withFleetIssuer(
        { ...config, groups: [...new Set([...config.groups, ...groups])].sort() },
        opts.caCertPem,
      ),
    };
  }

  async function csrIdentity(csrPem: string): Promise<string> {
    let csr;
    try {
      csr = await inspectCsr(csrPem);
    } catch {
      throw new Refusal(400, "the CSR cannot be parsed (send a PEM PKCS#10 request)");
    }
    if (!csr.signatureValid) throw new Refusal(400, "the CSR's signature does not verify");
    if (!IDENTITY_PATTERN.test(csr.commonName)) {
      throw new Refusal(400, `the CSR names an invalid identity "${csr.commonName}"`);
    }
    return csr.commonName;
  }

  async function enrol(req: Request): Promise<EnrolReply> {
    const body = parse(enrolBody, await readBody(req));
    const auth = req.headers.get("authorization") ?? "";
    const m = /^Bearer\s+(\S+)$/i.exec(auth);
    if (!m) throw new Refusal(401, "a provisioning token is required (Authorization: Bearer)");
    let claims;
    try {
      claims = await verifyProvisioningToken(m[1]!, {
        caCertPem: opts.caCertPem,
        now: new Date(clock.now()),
        clockSkewMs: skew,
      });
    } catch (e) {
      throw new Refusal(401, `provisioning token refused: ${(e as Error).message}`);
    }
    const identity = await csrIdentity(body.csr);
    if (!identityAllowed(claims.identity, identity)) {
      throw new Refusal(403, `the token does not allow identity "${identity}"`);
    }
    if (state.denied.includes(identity)) {
      throw new Refusal(403, `identity "${identity}" is denied`);
    }
    if (claims.single_use) {
      if (state.usedTokens[claims.jti] !== undefined) {
        throw new Refusal(403, "this single-use token has been used already");
      }
      state.usedTokens[claims.jti] = claims.exp * 1000; // taken now: a parallel use is refused
    }
    let reply: EnrolReply;
    try {
      reply = await issue(identity, body.csr, claims.groups ?? []);
    } catch (e) {
      if (claims.single_use) delete state.usedTokens[claims.jti]; // nothing was issued
      throw e;
    }
    await save();
    return reply;
  }

  async function reenrol(req: Request): Promise<EnrolReply> {
    const body = parse(reenrolBody, await readBody(req));
    const now = new Date(clock.now());
    let current;
    try {
      current = await certInfo(body.certificate);
    } catch {
      throw new Refusal(400, "the current certificate cannot be parsed");
    }
    if (!(await verifyIssuedBy(body.certificate, opts.caCertPem, { now }))) {
      throw new Refusal(401, "the current certificate is not a valid fleet certificate (expired?)");
    }
    if (!(await verifyWithCert(body.certificate, body.csr, body.signature))) {
      throw new Refusal(401, "the signature does not prove possession of the current key");
    }
    const identity = await csrIdentity(body.csr);
    if (identity !== current.subjectCn) {
      throw new Refusal(403, `the CSR names "${identity}", the certificate "${current.subjectCn}"`);
    }
    if (state.denied.includes(identity)) {
      throw new Refusal(403, `identity "${identity}" is denied`);
    }
    const reply = await issue(identity, body.csr, state.nodes[identity]?.groups ?? []);
    await save();
    return reply;
  }

  async function handle(req: Request): Promise<Response> {
    const path = new URL(req.url).pathname;
    const kind = path === EST_PATHS.enrol ? "enrol" : path === EST_PATHS.reenrol ? "renew" : null;
    if (path === EST_PATHS.cacerts && req.method === "GET") {
      return new Response(opts.caCertPem, {
        headers: { "content-type": "application/pem-certificate-chain" },
      });
    }
    if (kind === null) return json(404, { error: "not found" });
    if (req.method !== "POST") return json(405, { error: "use POST" });
    try {
      const reply = kind === "enrol" ? await enrol(req) : await reenrol(req);
      logger.info(`${kind}: issued`, { identity: reply.identity });
      return json(200, reply);
    } catch (e) {
      if (e instanceof Refusal) {
        logger.warn(`${kind}: refused`, { reason: e.message, status: e.status });
        return json(e.status, { error: e.message });
      }
      logger.error(`${kind}: failed`, { error: String(e) });
      return json(500, { error: "internal error; see the hub's log" });
    }
  }

  return {
    handle,
    async setDenied(identity, denied) {
      const set = new Set(state.denied);
      if (denied) set.add(identity);
      else set.delete(identity);
      state.denied = [...set].sort();
      await save();
      return [...state.denied];
    },
    state: () => structuredClone(state),
  };
}

/** A running HTTPS enrolment listener. */
export interface EnrolListener {
  /** The port it listens on (useful with port 0). */
  port: number;
  /** Stops listening. */
  stop(): Promise<void>;
}

/**
 * Serves the provisioner over HTTPS (`--enrol-listen`, reachable from the network by default:
 * enrolling devices are elsewhere). The certificate is the hub's server certificate from the
 * fleet CA, so agents can verify it against the CA their token pins.
 *
 * @param provisioner the provisioner
 * @param opts address and TLS material (PEM; the chain may follow the certificate)
 * @returns the listener
 */
export function serveProvisioner(
  provisioner: Provisioner,
  opts: { hostname: string; port: number; certPem: string; keyPem: string },
): EnrolListener {
  const server = Deno.serve({
    hostname: opts.hostname,
    port: opts.port,
    cert: opts.certPem,
    key: opts.keyPem,
    onListen: () => {},
  }, (req) => provisioner.handle(req));
  return { port: server.addr.port, stop: () => server.shutdown() };
}
