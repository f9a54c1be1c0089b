/**
 * Provisioning discovery: find the provisioning token (flag, env, embedded, file; first hit
 * wins) and the hub's enrolment URLs (from `chu`, or DNS SRV for `chsrv`). Pure: file reads
 * and DNS come in through `deps`, so tests use fakes.
 * @module
 */
import { type ErrorCode, ScoutError } from "../errors.ts";
import { type ProvisioningClaims, readProvisioningToken, SEARCH_DOMAINS } from "./token.ts";

/** Default path of the token file (Choria: `/etc/choria/provisioning.jwt`). */
export const DEFAULT_TOKEN_FILE = "/etc/scout/provisioning.jwt";

/** SRV service label under which hubs are published: `_scout-provisioner._tcp.<domain>`. */
export const SRV_SERVICE = "_scout-provisioner._tcp";

/**
 * Error code when a token's SRV lookup finds no hub; the caller retries with retrySchedule.
 */
export const PROVISIONER_NOT_FOUND: ErrorCode = "PROVISIONER_NOT_FOUND";

/** One SRV answer (RFC 2782), as the Dns port returns it. */
export interface SrvRecord {
  /** Host name of the hub; a trailing dot is allowed. */
  target: string;
  /** TCP port of the hub's enrolment listener. */
  port: number;
  /** Lower is tried first. */
  priority: number;
  /** Relative share among records of equal priority. */
  weight: number;
}

/** Where a token can come from, in the order they are tried. */
export interface DiscoverySources {
  /** Path given by `--provisioning-token FILE`; a missing file is an error. */
  flag?: string;
  /** Path given by env `SCOUT_PROVISIONING_TOKEN`; a missing file is an error. */
  env?: string;
  /** JWT text embedded in the binary at build time; "" means none. */
  embedded?: string;
  /** The token file; default DEFAULT_TOKEN_FILE; a missing file means "no token here". */
  file?: string;
}

/** The effects discovery needs. */
export interface DiscoveryDeps {
  /** Reads a text file; resolves undefined when it does not exist, rejects on other errors. */
  readFile(path: string): Promise<string | undefined>;
  /** Looks up SRV records; resolves [] when the name does not exist. */
  resolveSrv(name: string): Promise<SrvRecord[]>;
  /** Text of /etc/resolv.conf, read only for `chsrv: "."`; default: no search domains. */
  readResolvConf?: () => Promise<string>;
  /** Uniform random in [0, 1) for RFC 2782 weight selection; default Math.random. */
  random?: () => number;
}

/** Which source the token came from. */
export type TokenSource = "flag" | "env" | "embedded" | "file";

/** What the agent should do: enrol at `urls` with `token`, or run standalone. */
export type Discovery =
  | {
    kind: "enrol";
    /** The token as found (trimmed). */
    token: string;
    /** Its claims, read without verification. */
    claims: ProvisioningClaims;
    /** Hub enrolment URLs in the order to try them. */
    urls: string[];
    /** Where the token came from. */
    source: TokenSource;
  }
  | {
    kind: "standalone";
    /** Why there is nothing to enrol with, for the log. */
    reason: string;
  };

async function readRequired(
  deps: DiscoveryDeps,
  path: string,
  source: "flag" | "env",
): Promise<string> {
  const text = await deps.readFile(path);
  if (text === undefined) {
    const what = source === "flag" ? "--provisioning-token" : "SCOUT_PROVISIONING_TOKEN";
    throw new ScoutError("USAGE", `${what} names "${path}", which does not exist`, {
      hint: `give ${what} the path of an existing token file, or leave it unset`,
      context: { path, source },
    });
  }
  return text;
}

async function findToken(
  sources: DiscoverySources,
  deps: DiscoveryDeps,
): Promise<{ token: string; source: TokenSource; where: string } | string> {
  if (sources.flag !== undefined && sources.flag !== "") {
    const text = await readRequired(deps, sources.flag, "flag");
    return { token: text.trim(), source: "flag", where: sources.flag };
  }
  if (sources.env !== undefined && sources.env !== "") {
    const text = await readRequired(deps, sources.env, "env");
    return { token: text.trim(), source: "env", where: sources.env };
  }
  if (sources.embedded !== undefined && sources.embedded.trim() !== "") {
    return { token: sources.embedded.trim(), source: "embedded", where: "embedded token" };
  }
  const file = sources.file ?? DEFAULT_TOKEN_FILE;
  const text = await deps.readFile(file);
  if (text !== undefined) return { token: text.trim(), source: "file", where: file };
  return `no provisioning token (no --provisioning-token, no SCOUT_PROVISIONING_TOKEN, none embedded, no ${file})`;
}

/**
 * Finds the token and the hub URLs. No token anywhere gives `standalone`; a malformed token
 * throws TOKEN_INVALID; a `chsrv` token whose SRV lookup finds no hub throws
 * PROVISIONER_NOT_FOUND, which the caller retries forever (see retrySchedule).
 */
export async function discoverProvisioning(
  sources: DiscoverySources,
  deps: DiscoveryDeps,
): Promise<Discovery> {
  const found = await findToken(sources, deps);
  if (typeof found === "string") return { kind: "standalone", reason: found };
  let claims: ProvisioningClaims;
  try {
    claims = readProvisioningToken(found.token);
  } catch (e) {
    if (e instanceof ScoutError) {
      throw new ScoutError(e.code, `${found.where}: ${e.message}`, {
        ...(e.hint === undefined ? {} : { hint: e.hint }),
        context: { ...e.context, source: found.source },
      });
    }
    throw e;
  }
  const urls = claims.chu ?? await urlsFromSrv(claims.chsrv ?? "", deps);
  return { kind: "enrol", token: found.token, claims, urls, source: found.source };
}

async function urlsFromSrv(chsrv: string, deps: DiscoveryDeps): Promise<string[]> {
  const domains = chsrv === SEARCH_DOMAINS
    ? searchDomains(deps.readResolvConf ? await deps.readResolvConf() : "")
    : [chsrv.replace(/\.$/, "")];
  const names = domains.map((d) => `${SRV_SERVICE}.${d}`);
  for (const name of names) {
    const records = await deps.resolveSrv(name);
    const urls = srvUrls(records, deps.random ?? Math.random);
    if (urls.length > 0) return urls;
  }
  throw new ScoutError(
    PROVISIONER_NOT_FOUND,
    `no hub found: no SRV records for ${
      names.join(", ") || `${SRV_SERVICE}.<search domain> (resolv.conf has no search domains)`
    }`,
    {
      hint: `publish an SRV record ${SRV_SERVICE}.<domain> for the hub's enrolment listener; ` +
        "the agent retries with backoff",
      context: { names },
    },
  );
}

/**
 * Orders SRV answers as RFC 2782 asks and turns them into `https://<target>:<port>/` URLs:
 * ascending priority; within a priority, a weighted random order (each pick chooses a record
 * with probability weight / remaining total weight; records of weight 0 come after the
 * weighted ones, in name order). Target "." (service not offered) is dropped.
 */
export function srvUrls(records: readonly SrvRecord[], random: () => number): string[] {
  const usable = records.filter((r) => r.target !== "." && r.target !== "");
  const priorities = [...new Set(usable.map((r) => r.priority))].sort((a, b) => a - b);
  const out: string[] = [];
  for (const p of priorities) {
    const group = usable.filter((r) => r.priority === p).sort((a, b) =>
      b.weight - a.weight || a.target.localeCompare(b.target) || a.port - b.port
    );
    const weighted = group.filter((r) => r.weight > 0);
    while (weighted.length > 0) {
      const total = weighted.reduce((s, r) => s + r.weight, 0);
      const pick = Math.min(random(), 1 - Number.EPSILON) * total;
      let sum = 0;
      let idx = weighted.length - 1;
      for (let i = 0; i < weighted.length; i++) {
        sum += weighted[i]!.weight;
        if (pick < sum) {
          idx = i;
          break;
        }
      }
      out.push(srvUrl(weighted.splice(idx, 1)[0]!));
    }
    for (const r of group.filter((r) => r.weight <= 0)) out.push(srvUrl(r));
  }
  return [...new Set(out)];
}

function srvUrl(r: SrvRecord): string {
  const host = r.target.replace(/\.$/, "");
  const shown = host.includes(":") ? `[${host}]` : host;
  return `https://${shown}:${r.port}/`;
}

/** Backoff start, doubling per attempt. */
const RETRY_BASE_MS = 1_000;
/** Backoff cap. */
const RETRY_CAP_MS = 300_000;

/**
 * Delay before retry number `attempt` (0-based): exponential backoff from 1 s doubling to a cap
 * of 5 min, with "equal jitter": a uniform value in [d/2, d), so retries of a fleet spread out
 * but never come faster than half the step. `random` returns a value in [0, 1).
 */
export function retrySchedule(attempt: number, random: () => number): number {
  const n = Number.isNaN(attempt) ? 0 : Math.max(0, Math.floor(attempt));
  const step = Math.min(RETRY_CAP_MS, RETRY_BASE_MS * 2 ** Math.min(n, 30));
  const r = Math.min(Math.max(random(), 0), 1 - Number.EPSILON);
  return Math.floor(step / 2 + r * (step / 2));
}

/**
 * The search domains of a resolv.conf text: the last `search` or `domain` line wins (they are
 * mutually exclusive, resolv.conf(5)); comments start with `#` or `;`; trailing dots and the
 * root "." are dropped.
 */
export function searchDomains(resolvConfText: string): string[] {
  let domains: string[] = [];
  for (const raw of resolvConfText.split(/\r?\n/)) {
    const line = raw.replace(/[#;].*$/, "").trim();
    const [key, ...values] = line.split(/\s+/);
    if (key === "search" || key === "domain") {
      domains = (key === "domain" ? values.slice(0, 1) : values)
        .map((d) => d.replace(/\.$/, ""))
        .filter((d) => d !== "");
    }
  }
  return [...new Set(domains)];
}
