/**
 * `scout push`: signs check bundles with the operator's key and stores them in the
 * `SCOUT_CHECKS` KV bucket (`node.<token>`, `group.<name>`); lists, shows, removes (signed
 * tombstone) and rolls back (the previous revision's checks, re-signed with a higher sequence).
 * @module
 */
import { ScoutError } from "../errors.ts";
import { loadCheckFile, parseDuration } from "../config/mod.ts";
import { globMatch, importCallerPrivateKey } from "../rpc/mod.ts";
import {
  type Bundle,
  CHECKS_BUCKET,
  groupKey,
  nodeKey,
  parseBundle,
  signBundle,
} from "../push/mod.ts";
import { connectBroker, type Kv } from "../transport/mod.ts";
import { BROKER_FLAGS, brokerFlags, type CliIo, type Command, parseFlags } from "./_common.ts";
import { brokerOptions, fetchHubNodes } from "./_remote.ts";

const HELP = `scout push FILE --to SELECTOR     sign FILE's checks and push them
scout push --list                  list the pushed bundles (key, seq, author, issued)
scout push --show KEY              print one key's bundle and its history
scout push --remove --to SELECTOR  push a signed tombstone (the nodes remove the checks)
scout push --rollback [--seq N] --to SELECTOR
                                     push the previous revision's checks (or those of sequence
                                     N: a bundle the nodes refused is no place to go back to)
                                     again, re-signed with a new sequence

SELECTOR: one identity (web1.example), group:NAME, or a pattern (web*) expanded against the
hub's node list (--hub URL, GET /api/v1/nodes).

Flags: --token FILE (operator token; SCOUT_OPERATOR_TOKEN), --key FILE (caller private key;
SCOUT_OPERATOR_KEY), --broker URL --tls-ca --tls-cert --tls-key --creds, --hub URL,
--expires DURATION (bundle life, default 7d), --json.
The token must grant "push" (or "*") for the nodes; group keys need scout_nodes "*" or a
scout_groups claim matching the group.`;

const usage = (message: string) =>
  new ScoutError("USAGE", message, { hint: "see `scout push --help`" });

/** Expands a selector into KV keys. */
export async function selectorKeys(
  selector: string,
  hub: string | undefined,
  fetchNodes: (hub: string) => Promise<string[]>,
): Promise<string[]> {
  if (selector.startsWith("group:")) return [groupKey(selector.slice("group:".length))];
  if (!selector.includes("*")) return [nodeKey(selector)];
  if (hub === undefined) throw usage(`--to ${selector} is a pattern: give --hub URL to expand it`);
  const ids = (await fetchNodes(hub)).filter((id) => globMatch(selector, id)).sort();
  if (ids.length === 0) throw usage(`no node of the hub matches ${selector}`);
  return ids.map(nodeKey);
}

async function readFile(flag: string, path: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (e) {
    throw usage(`Cannot read ${flag} "${path}": ${(e as Error).message}`);
  }
}

async function lastSeq(kv: Kv, key: string): Promise<{ seq: number; revision: number | null }> {
  const e = await kv.get(key);
  if (e === null) return { seq: 0, revision: null };
  let seq = 0;
  for (const h of await kv.history(key)) seq = Math.max(seq, parseBundle(h.value)?.seq ?? 0);
  return { seq, revision: e.revision };
}

/** `scout push`. */
export const pushCommand: Command = {
  name: "push",
  summary: "push signed check bundles to nodes over the fleet broker",
  help: HELP,
  async run(args: string[], io: CliIo): Promise<number> {
    const { values, positionals } = parseFlags(args, {
      ...BROKER_FLAGS,
      to: { type: "string" },
      hub: { type: "string" },
      token: { type: "string" },
      key: { type: "string" },
      expires: { type: "string" },
      list: { type: "boolean" },
      show: { type: "string" },
      remove: { type: "boolean" },
      rollback: { type: "boolean" },
      seq: { type: "string" },
      json: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    }, "push");
    if (values.help) {
      io.out(HELP + "\n");
      return 0;
    }
    const modes = [
      positionals.length > 0,
      !!values.list,
      values.show !== undefined,
      !!values.remove,
      !!values.rollback,
    ]
      .filter(Boolean).length;
    if (modes !== 1) {
      throw usage("give exactly one of FILE, --list, --show KEY, --remove, --rollback");
    }
    const broker = await brokerFlags(values, io);
    if (broker === null) throw usage("scout push needs --broker (or SCOUT_BROKER)");
    const writing = !values.list && values.show === undefined;
    let checks: string | null = null;
    if (positionals.length > 0) {
      const file = positionals[0]!;
      checks = await readFile("FILE", file);
      const r = loadCheckFile(checks, file);
      if (!r.ok) throw r.errors[0]!;
      if (r.value.length === 0) {
        throw usage(`${file} has no checks: use --remove to remove a bundle`);
      }
    }
    let keys: string[] = [];
    let sign: ((key: string, seq: number, checks: string | null) => Promise<Bundle>) | null = null;
    if (writing) {
      if (values.to === undefined) throw usage("--to SELECTOR is required");
      keys = await selectorKeys(
        values.to,
        values.hub ?? io.env("SCOUT_HUB"),
        async (hub) => (await fetchHubNodes(hub)).map((n) => n.identity),
      );
      const tokenPath = values.token ?? io.env("SCOUT_OPERATOR_TOKEN");
      const keyPath = values.key ?? io.env("SCOUT_OPERATOR_KEY");
      if (tokenPath === undefined || keyPath === undefined) {
        throw usage("pushing needs --token FILE and --key FILE");
      }
      const token = (await readFile("--token", tokenPath)).trim();
      const privateKey = await importCallerPrivateKey(await readFile("--key", keyPath));
      const ttlMs = values.expires === undefined ? undefined : parseDuration(values.expires);
      sign = (key, seq, c) =>
        signBundle({
          key,
          seq,
          checks: c,
          token,
          privateKey,
          now: Date.now(),
          ...(ttlMs === undefined ? {} : { ttlMs }),
        });
    }
    const conn = await connectBroker({
      ...brokerOptions(broker, "scout-push"),
      connectTimeoutMs: 5_000,
    });
    try {
      const kv = await conn.kv(CHECKS_BUCKET, { create: writing, history: 10 });
      if (values.list) {
        const rows = [];
        for (const k of await kv.keys()) {
          const e = await kv.get(k);
          const b = e && e.operation === "PUT" ? parseBundle(e.value) : null;
          rows.push({
            key: k,
            seq: b?.seq ?? null,
            author: b?.author ?? null,
            issued: b ? new Date(b.issued).toISOString() : null,
            removed: b ? b.checks === null : null,
          });
        }
        if (values.json) io.out(JSON.stringify(rows) + "\n");
        else {
          io.out(`${"KEY".padEnd(32)} ${"SEQ".padEnd(5)} ${"AUTHOR".padEnd(16)} ISSUED\n`);
          for (const r of rows) {
            io.out(
              `${r.key.padEnd(32)} ${String(r.seq ?? "-").padEnd(5)} ${
                (r.author ?? "-").padEnd(16)
              } ${r.issued ?? "-"}${r.removed ? " (removed)" : ""}\n`,
            );
          }
        }
        return 0;
      }
      if (values.show !== undefined) {
        const history = await kv.history(values.show);
        if (history.length === 0) throw usage(`no bundle under ${values.show}`);
        const out = history.map((h) => ({
          revision: h.revision,
          operation: h.operation,
          bundle: h.operation === "PUT" ? parseBundle(h.value) : null,
        }));
        if (values.json) io.out(JSON.stringify(out) + "\n");
        else {
          for (const h of out) {
            const b = h.bundle;
            io.out(
              `revision ${h.revision} ${h.operation}${
                b
                  ? ` seq ${b.seq} by ${b.author} at ${new Date(b.issued).toISOString()}${
                    b.checks === null ? " (tombstone)" : ""
                  }`
                  : ""
              }\n`,
            );
          }
          const last = out[out.length - 1]?.bundle;
          if (last?.checks) io.out(`---\n${last.checks}`);
        }
        return 0;
      }
      const results = [];
      for (const key of keys) {
        const { seq, revision } = await lastSeq(kv, key);
        let body = checks;
        if (values.rollback) {
          const puts = (await kv.history(key)).map((h) => parseBundle(h.value)).filter((
            b,
          ): b is Bundle => b !== null);
          const prev = values.seq === undefined
            ? puts[puts.length - 2]
            : puts.find((b) => String(b.seq) === values.seq);
          if (prev === undefined) {
            throw usage(
              values.seq === undefined
                ? `${key} has no previous revision to roll back to`
                : `${key} has no bundle with sequence ${values.seq} in its history`,
            );
          }
          body = prev.checks;
        }
        const bundle = await sign!(key, seq + 1, values.remove ? null : body);
        await kv.put(
          key,
          new TextEncoder().encode(JSON.stringify(bundle)),
          revision === null ? {} : { previousRevision: revision },
        );
        results.push({ key, seq: bundle.seq, removed: bundle.checks === null });
      }
      if (values.json) io.out(JSON.stringify(results) + "\n");
      else {
        for (const r of results) {
          io.out(`${r.key}: seq ${r.seq}${r.removed ? " (tombstone)" : ""} stored\n`);
        }
      }
      return 0;
    } finally {
      await conn.close();
    }
  },
};
