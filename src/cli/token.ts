import { parseDuration } from "../config/mod.ts";
import { ScoutError } from "../errors.ts";
import { issueProvisioningToken, verifyProvisioningToken } from "../provisioning/mod.ts";
import { systemClock } from "../runtime/mod.ts";
import { type Command, parseFlags } from "./_common.ts";

const HELP = `scout token: make tokens signed by the fleet CA

Usage: scout token provisioning --ca DIR (--url URL... | --srv-domain DOMAIN)
                               [--identity PATTERN] [--expires DURATION] [--single-use]
                               [--out FILE] [--json]

  --ca DIR             the fleet CA folder: reads DIR/ca.pem and DIR/ca.key (P-256, PKCS#8)
  --url URL            hub enrolment URL (https://), repeatable; claim "chu"
  --srv-domain DOMAIN  find the hub by DNS SRV _scout-provisioner._tcp.DOMAIN; claim "chsrv"
                       ("." means the agent's resolv.conf search domains)
  --identity PATTERN   identities allowed to enrol, "*" matches any run of characters
                       (default "*"), e.g. "web-*.example.com"
  --expires DURATION   lifetime, e.g. 1h, 7d (default 24h)
  --single-use         the hub accepts the token for one enrolment only
  --out FILE           write the token to FILE (mode 0600) instead of printing it
  --json               print {token, claims} (or {out, claims} with --out)

Give exactly one of --url and --srv-domain. Operator tokens come later.`;

const KINDS = ["provisioning"];

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

/** `scout token`: issues provisioning tokens signed by the fleet CA (operator tokens later). */
export const tokenCommand: Command = {
  name: "token",
  summary: "make provisioning tokens signed by the fleet CA",
  help: HELP,
  async run(args, io) {
    const { values, positionals } = parseFlags(args, {
      ca: { type: "string" },
      url: { type: "string", multiple: true },
      "srv-domain": { type: "string" },
      identity: { type: "string" },
      expires: { type: "string" },
      "single-use": { type: "boolean" },
      out: { type: "string" },
      json: { type: "boolean" },
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
      now,
    };
    const token = srvDomain === undefined
      ? await issueProvisioningToken({ ...common, urls })
      : await issueProvisioningToken({ ...common, srvDomain });
    // Prove ca.key belongs to ca.pem before handing the token out.
    const claims = await verifyProvisioningToken(token, { caCertPem, now }).catch((e) => {
      throw new ScoutError("USAGE", `ca.key does not match ca.pem in ${values.ca}`, {
        hint: "give --ca a folder whose ca.key is the private key of its ca.pem",
        cause: e,
      });
    });
    if (values.out !== undefined) await writePrivate(values.out, token + "\n");
    if (values.json) {
      const head = values.out === undefined ? { token } : { out: values.out };
      io.out(JSON.stringify({ ...head, claims }) + "\n");
    } else if (values.out === undefined) {
      io.out(token + "\n");
    } else {
      io.err(
        `wrote provisioning token to ${values.out} (expires ${
          new Date(claims.exp * 1000).toISOString()
        })\n`,
      );
    }
    return 0;
  },
};
