import { parseDuration } from "../config/mod.ts";
import { ScoutError } from "../errors.ts";
import { issueProvisioningToken, verifyProvisioningToken } from "../provisioning/mod.ts";
import { systemClock } from "../runtime/mod.ts";
import {
  generateCallerKeyPair,
  issueOperatorToken,
  parseCallerPublicKey,
  verifyOperatorToken,
} from "../rpc/mod.ts";
import { type CliIo, type Command, parseFlags } from "./_common.ts";

const HELP = `scout token: make tokens signed by the fleet CA, and caller keys

Usage: scout token provisioning --ca DIR (--url URL... | --srv-domain DOMAIN)
                               [--identity PATTERN] [--group NAME]... [--expires DURATION]
                               [--single-use] [--out FILE] [--json]

  --ca DIR             the fleet CA folder: reads DIR/ca.pem and DIR/ca.key (P-256, PKCS#8)
  --url URL            hub enrolment URL (https://), repeatable; claim "chu"
  --srv-domain DOMAIN  find the hub by DNS SRV _scout-provisioner._tcp.DOMAIN; claim "chsrv"
                       ("." means the agent's resolv.conf search domains)
  --identity PATTERN   identities allowed to enrol, "*" matches any run of characters
                       (default "*"), e.g. "web-*.example.com"
  --group NAME         a group the enrolled nodes join (pushed checks of group.NAME apply to
                       them, and the managed broker lets them read that key); repeatable
  --expires DURATION   lifetime, e.g. 1h, 7d (default 24h)
  --single-use         the hub accepts the token for one enrolment only
  --out FILE           write the token to FILE (mode 0600) instead of printing it
  --json               print {token, claims} (or {out, claims} with --out)

Give exactly one of --url and --srv-domain.

Usage: scout token operator --ca DIR --name CALLER --public-key FILE [--actions A,B]
                           [--nodes GLOB] [--checks GLOB] [--expires DURATION]
                           [--out FILE] [--json]

  --name CALLER        the caller's name (claim "sub"), as audited and matched by node policy
  --public-key FILE    the caller's ed25519 public key, PEM or JWK (claim "cnf"); requests
                       must be signed by its private key
  --actions A,B        actions granted besides the read-only listing (checks, machine_states):
                       trigger, maintenance, resume, goss_validate, machine_transition, or "*"
                       (default none)
  --nodes GLOB         node identities the token may address (default "*")
  --checks GLOB        check names the token may act on (default "*")
  --expires DURATION   lifetime (default 8h)

Usage: scout token keypair --out-private FILE --out-public FILE

  Makes an ed25519 caller key: the private key (PKCS#8 PEM, mode 0600) signs requests,
  the public key (SPKI PEM) goes to \`scout token operator --public-key\`.`;

const KINDS = ["provisioning", "operator", "keypair"];

/** Flags each kind accepts. */
const KIND_FLAGS: Record<string, string[]> = {
  provisioning: [
    "ca",
    "url",
    "srv-domain",
    "identity",
    "group",
    "expires",
    "single-use",
    "out",
    "json",
  ],
  operator: ["ca", "name", "public-key", "actions", "nodes", "checks", "expires", "out", "json"],
  keypair: ["out-private", "out-public", "json"],
};

async function readCaFile(dir: string, name: string): Promise<string> {
  const path = `${dir.replace(/\/+$/, "")}/${name}`;
  try {
    return await Deno.readTextFile(path);
  } catch (e) {
    throw new ScoutError("USAGE", `Cannot read "${path}": ${(e as Error).message}`, {
      hint: "give --ca the fleet CA folder (ca.pem and ca.key), e.g. from `scout-hub ca init`",
    });
  }
}

/** Writes text to a new 0600 file beside `path`, then renames it over `path`. */
async function writePrivate(path: string, text: string): Promise<void> {
  const tmp = `${path}.tmp-${crypto.randomUUID()}`;
  try {
    await Deno.writeTextFile(tmp, text, { mode: 0o600, createNew: true });
    await Deno.chmod(tmp, 0o600);
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw new ScoutError("USAGE", `Cannot write "${path}": ${(e as Error).message}`, {
      hint: "give --out a path in a writable folder",
    });
  }
}

async function readFile(path: string, what: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (e) {
    throw new ScoutError("USAGE", `Cannot read "${path}": ${(e as Error).message}`, {
      hint: `give ${what}`,
    });
  }
}

/** Writes a public file (0644) atomically. */
async function writePublic(path: string, text: string): Promise<void> {
  const tmp = `${path}.tmp-${crypto.randomUUID()}`;
  try {
    await Deno.writeTextFile(tmp, text, { mode: 0o644, createNew: true });
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw new ScoutError("USAGE", `Cannot write "${path}": ${(e as Error).message}`, {
      hint: "give --out-public a path in a writable folder",
    });
  }
}

/** `scout token`: issues provisioning and operator tokens signed by the fleet CA; makes caller keys. */
export const tokenCommand: Command = {
  name: "token",
  summary: "make provisioning and operator tokens signed by the fleet CA, and caller keys",
  help: HELP,
  async run(args, io) {
    const { values, positionals } = parseFlags(args, {
      ca: { type: "string" },
      url: { type: "string", multiple: true },
      "srv-domain": { type: "string" },
      identity: { type: "string" },
      group: { type: "string", multiple: true },
      expires: { type: "string" },
      "single-use": { type: "boolean" },
      out: { type: "string" },
      json: { type: "boolean" },
      name: { type: "string" },
      "public-key": { type: "string" },
      actions: { type: "string" },
      nodes: { type: "string" },
      checks: { type: "string" },
      "out-private": { type: "string" },
      "out-public": { type: "string" },
    }, "token");
    const [kind, ...extra] = positionals;
    if (kind === undefined || !KINDS.includes(kind)) {
      throw new ScoutError(
        "USAGE",
        kind === undefined ? "missing token kind" : `unknown token kind "${kind}"`,
        { hint: `use \`scout token provisioning ...\` (kinds: ${KINDS.join(", ")})` },
      );
    }
    if (extra.length > 0) {
      throw new ScoutError("USAGE", `unexpected argument "${extra[0]}"`, {
        hint: "see `scout token --help`",
      });
    }
    const allowed = KIND_FLAGS[kind] ?? [];
    const stray = Object.keys(values).find((f) => !allowed.includes(f));
    if (stray !== undefined) {
      throw new ScoutError("USAGE", `--${stray} does not apply to \`scout token ${kind}\``, {
        hint: `flags of ${kind}: ${allowed.map((f) => `--${f}`).join(" ")}`,
      });
    }
    if (kind === "keypair") return await keypair(values, io);
    if (kind === "operator") return await operator(values, io);
    if (values.ca === undefined) {
      throw new ScoutError("USAGE", "--ca DIR is required", {
        hint: "give the fleet CA folder holding ca.pem and ca.key",
      });
    }
    const urls = values.url ?? [];
    const srvDomain = values["srv-domain"];
    if ((urls.length > 0) === (srvDomain !== undefined)) {
      throw new ScoutError("USAGE", "give exactly one of --url and --srv-domain", {
        hint: "--url names the hub directly; --srv-domain lets agents find it by DNS SRV",
      });
    }
    const ttlMs = parseDuration(values.expires ?? "24h");
    if (ttlMs < 1_000) {
      throw new ScoutError("USAGE", `--expires ${values.expires} is shorter than a second`, {
        hint: 'give a lifetime such as "1h" or "7d"',
      });
    }
    const caCertPem = await readCaFile(values.ca, "ca.pem");
    const caKeyPem = await readCaFile(values.ca, "ca.key");
    const now = new Date(systemClock.now());
    const common = {
      caKeyPem,
      caCertPem,
      identityPattern: values.identity ?? "*",
      ttlMs,
      singleUse: values["single-use"] ?? false,
      ...(values.group?.length ? { groups: values.group } : {}),
      now,
    };
    const token = srvDomain === undefined
      ? await issueProvisioningToken({ ...common, urls })
      : await issueProvisioningToken({ ...common, srvDomain });
    // Prove ca.key belongs to ca.pem before handing the token out.
    const claims = await matchingKey(
      verifyProvisioningToken(token, { caCertPem, now }),
      values.ca,
    );
    return await handOut(io, token, claims, values, "provisioning token");
  },
};

interface Flags {
  ca?: string | undefined;
  name?: string | undefined;
  "public-key"?: string | undefined;
  actions?: string | undefined;
  nodes?: string | undefined;
  checks?: string | undefined;
  expires?: string | undefined;
  out?: string | undefined;
  json?: boolean | undefined;
  "out-private"?: string | undefined;
  "out-public"?: string | undefined;
}

/** `scout token keypair`: a new ed25519 caller key pair. */
async function keypair(values: Flags, io: CliIo): Promise<number> {
  const priv = values["out-private"], pub = values["out-public"];
  if (priv === undefined || pub === undefined) {
    throw new ScoutError("USAGE", "--out-private FILE and --out-public FILE are required", {
      hint: "e.g. scout token keypair --out-private alice.key --out-public alice.pub",
    });
  }
  const keys = await generateCallerKeyPair();
  await writePrivate(priv, keys.privatePem);
  await writePublic(pub, keys.publicPem);
  if (values.json) {
    io.out(JSON.stringify({ private: priv, public: pub, jwk: keys.publicJwk }) + "\n");
  } else {
    io.err(`wrote ed25519 caller key ${priv} (private, 0600) and ${pub} (public)\n`);
  }
  return 0;
}

/** `scout token operator`: an operator token bound to a caller key. */
async function operator(values: Flags, io: CliIo): Promise<number> {
  if (values.ca === undefined) {
    throw new ScoutError("USAGE", "--ca DIR is required", {
      hint: "give the fleet CA folder holding ca.pem and ca.key",
    });
  }
  if (values.name === undefined || values.name.trim() === "") {
    throw new ScoutError("USAGE", "--name CALLER is required", {
      hint: "name the person or service the token is for, e.g. --name alice",
    });
  }
  if (values["public-key"] === undefined) {
    throw new ScoutError("USAGE", "--public-key FILE is required", {
      hint: "make a caller key with `scout token keypair` and give its public key file",
    });
  }
  const ttlMs = parseDuration(values.expires ?? "8h");
  if (ttlMs < 1_000) {
    throw new ScoutError("USAGE", `--expires ${values.expires} is shorter than a second`, {
      hint: 'give a lifetime such as "8h"',
    });
  }
  const actions = (values.actions ?? "").split(",").map((a) => a.trim()).filter((a) => a !== "");
  const callerPublicKey = await parseCallerPublicKey(
    await readFile(values["public-key"], "the caller's public key file (PEM or JWK)"),
  );
  const caCertPem = await readCaFile(values.ca, "ca.pem");
  const caKeyPem = await readCaFile(values.ca, "ca.key");
  const now = systemClock.now();
  const token = await issueOperatorToken({
    issuerKeyPem: caKeyPem,
    subject: values.name,
    callerPublicKey,
    actions,
    nodes: values.nodes ?? "*",
    checks: values.checks ?? "*",
    ttlMs,
    now,
  });
  const claims = await matchingKey(
    verifyOperatorToken(token, { trust: [{ kind: "fleet-ca", certPem: caCertPem }], now }),
    values.ca,
  );
  return await handOut(io, token, claims, values, `operator token for ${claims.sub}`);
}

/** A token that does not verify against ca.pem means ca.key is not its key: a usage error. */
function matchingKey<T>(verified: Promise<T>, caDir: string | undefined): Promise<T> {
  return verified.catch((e) => {
    throw new ScoutError("USAGE", `ca.key does not match ca.pem in ${caDir}`, {
      hint: "give --ca a folder whose ca.key is the private key of its ca.pem",
      cause: e,
    });
  });
}

/** Prints the token, or writes it 0600 to --out; with --json also its claims. */
async function handOut(
  io: CliIo,
  token: string,
  claims: { exp: number },
  values: { out?: string | undefined; json?: boolean | undefined },
  what: string,
): Promise<number> {
  if (values.out !== undefined) await writePrivate(values.out, token + "\n");
  if (values.json) {
    const head = values.out === undefined ? { token } : { out: values.out };
    io.out(JSON.stringify({ ...head, claims }) + "\n");
  } else if (values.out === undefined) {
    io.out(token + "\n");
  } else {
    io.err(
      `wrote ${what} to ${values.out} (expires ${new Date(claims.exp * 1000).toISOString()})\n`,
    );
  }
  return 0;
}
