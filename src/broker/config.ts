/**
 * The managed nats-server 2.9 configuration: validated options (zod) -> configuration text with a
 * mutual-TLS client listener (`verify_and_map`), JetStream, an optional loopback monitoring port
 * and one user per identity whose permissions follow its role (node, hub, operator).
 * Pure: no Deno.*, no I/O.
 * @module
 */
import { z } from "zod";
import { GROUP_PATTERN, IDENTITY_PATTERN } from "../config/mod.ts";
import { ScoutError } from "../errors.ts";

/** The JetStream KV bucket holding pushed checks (keys `node.<token>`, `group.<name>`). */
export const CHECKS_BUCKET = "SCOUT_CHECKS";
/** The JetStream stream archiving events over `scout.node.*.>`. */
export const EVENTS_STREAM = "SCOUT_EVENTS";

const IDENTITY_HINT = 'an identity is like a host name: letters, digits, "." and "-", ' +
  "starting and ending with a letter or digit, at most 253 characters";

const identity = z.string().regex(IDENTITY_PATTERN, { message: "invalid identity" });
const group = z.string().regex(GROUP_PATTERN, { message: "invalid group name" });
const port = z.number().int().min(1).max(65535);
const path = z.string().min(1).refine((s) => !/[\0\r\n]/.test(s), {
  message: "a path must not contain NUL or line breaks",
});
const size = z.number().int().positive();

/** The zod schema of renderBrokerConfig's input. */
export const brokerConfigSchema = z.strictObject({
  listen: z.strictObject({
    host: z.string().min(1).regex(/^[a-zA-Z0-9.:-]+$/, { message: "invalid listen host" }),
    port,
  }),
  tls: z.strictObject({ certFile: path, keyFile: path, caFile: path }),
  jetstream: z.strictObject({
    storeDir: path,
    maxMemory: size.optional(),
    maxFile: size.optional(),
  }),
  monitorPort: port.nullable().optional(),
  nodes: z.array(z.strictObject({ identity, groups: z.array(group).default([]) })).default([]),
  hubs: z.array(identity).default([]),
  operators: z.array(identity).default([]),
  denied: z.array(identity).default([]),
});

/** Input of renderBrokerConfig (before defaults). */
export type BrokerConfigInput = z.input<typeof brokerConfigSchema>;
/** Validated options of renderBrokerConfig. */
export type BrokerConfigOptions = z.output<typeof brokerConfigSchema>;

/** The fleet part of the options: who may connect, in which role. */
export const fleetSchema = z.strictObject({
  nodes: brokerConfigSchema.shape.nodes,
  hubs: brokerConfigSchema.shape.hubs,
  operators: brokerConfigSchema.shape.operators,
  denied: brokerConfigSchema.shape.denied,
});

/** The fleet file's content after validation. */
export type Fleet = z.output<typeof fleetSchema>;

/** One user's permissions as nats-server understands them. */
export interface Permissions {
  /** Subjects the user may publish to. */
  publish: string[];
  /** Subjects the user may subscribe to. */
  subscribe: string[];
  /** Whether the user may answer requests it received (reply subjects only). */
  allowResponses: boolean;
}

/** The role of a configured identity. */
export type Role = "node" | "hub" | "operator";

/** An identity's subject token: every "." replaced by "_". */
export function subjectToken(id: string): string {
  return id.replaceAll(".", "_");
}

/** The inbox prefix a node must connect with (nats.js `inboxPrefix`): `_INBOX_<token>`. */
export function nodeInboxPrefix(id: string): string {
  return `_INBOX_${subjectToken(id)}`;
}

const KV_STREAM = `KV_${CHECKS_BUCKET}`;

/**
 * A node's permissions: publish its own events, answer requests (allow_responses), receive API
 * requests for itself and the fleet, use its own inbox, read its KV keys (direct get by subject
 * and an ordered watch consumer filtered on the key).
 */
export function nodePermissions(id: string, groups: readonly string[]): Permissions {
  const t = subjectToken(id);
  const keys = [`node.${t}`, ...groups.map((g) => `group.${g}`)];
  return {
    publish: [
      `scout.node.${t}.>`,
      "$JS.API.INFO",
      `$JS.API.STREAM.INFO.${KV_STREAM}`,
      ...keys.map((k) => `$JS.API.DIRECT.GET.${KV_STREAM}.$KV.${CHECKS_BUCKET}.${k}`),
      ...keys.map((k) => `$JS.API.CONSUMER.CREATE.${KV_STREAM}.*.$KV.${CHECKS_BUCKET}.${k}`),
      `$JS.API.CONSUMER.MSG.NEXT.${KV_STREAM}.*`,
      `$JS.API.CONSUMER.INFO.${KV_STREAM}.*`,
      `$JS.API.CONSUMER.DELETE.${KV_STREAM}.*`,
    ],
    subscribe: [`scout.api.${t}.>`, "scout.api._all.>", `${nodeInboxPrefix(id)}.>`],
    allowResponses: true,
  };
}

/** The hub's permissions: everything (it creates streams, buckets and consumers). */
export function hubPermissions(): Permissions {
  return { publish: [">"], subscribe: [">"], allowResponses: false };
}

/**
 * An operator's permissions: send API requests, read node events, put checks into the KV bucket
 * (publish on `$KV.SCOUT_CHECKS.>` with the ack on its inbox), read the bucket.
 */
export function operatorPermissions(): Permissions {
  return {
    publish: [
      "scout.api.>",
      `$KV.${CHECKS_BUCKET}.>`,
      `$JS.API.STREAM.INFO.${KV_STREAM}`,
      `$JS.API.DIRECT.GET.${KV_STREAM}.>`,
    ],
    subscribe: ["_INBOX.>", "scout.node.*.>"],
    allowResponses: false,
  };
}

function invalid(issue: z.core.$ZodIssue): ScoutError {
  const where = issue.path.map(String).join(".") || "(root)";
  const isId = issue.message === "invalid identity";
  return new ScoutError(
    isId ? "IDENTITY_INVALID" : "CONFIG_INVALID",
    `broker config: ${where}: ${issue.message}`,
    {
      hint: isId
        ? IDENTITY_HINT
        : issue.message === "invalid group name"
        ? 'a group is one subject token: letters, digits, "-" and "_", at most 64 characters'
        : "fix the value named above",
      context: { path: where },
    },
  );
}

/** Validates options (throws ScoutError) and refuses duplicate or overlapping identities. */
export function parseBrokerConfig(input: unknown): BrokerConfigOptions {
  const r = brokerConfigSchema.safeParse(input);
  if (!r.success) throw invalid(r.error.issues[0]!);
  checkFleet(r.data);
  return r.data;
}

/** Validates a fleet description (from a --fleet file); throws ScoutError. */
export function parseFleet(input: unknown): Fleet {
  const r = fleetSchema.safeParse(input ?? {});
  if (!r.success) throw invalid(r.error.issues[0]!);
  checkFleet(r.data);
  return r.data;
}

function checkFleet(f: Fleet): void {
  const seen = new Map<string, string>();
  const tokens = new Map<string, string>();
  const add = (id: string, where: string) => {
    const key = id.toLowerCase();
    const before = seen.get(key);
    if (before !== undefined) {
      throw new ScoutError(
        "CONFIG_DUPLICATE",
        `broker config: identity "${id}" is listed twice (${before} and ${where})`,
        {
          hint: "list each identity once, in one of nodes, hubs, operators or denied",
          context: { identity: id },
        },
      );
    }
    seen.set(key, where);
    // "a.b" and "a_b" cannot both exist (no "_" in identities), but "a.b" and "a-b" map apart;
    // tokens are checked anyway so that two users never share a subject tree.
    const t = subjectToken(key);
    const other = tokens.get(t);
    if (other !== undefined) {
      throw new ScoutError(
        "CONFIG_DUPLICATE",
        `broker config: identity "${id}" has the same subject token as ${other}`,
        { hint: "rename one of the identities", context: { identity: id } },
      );
    }
    tokens.set(t, where);
  };
  f.nodes.forEach((n, i) => {
    add(n.identity, `nodes[${i}]`);
    const g = new Set<string>();
    for (const name of n.groups) {
      if (g.has(name)) {
        throw new ScoutError(
          "CONFIG_DUPLICATE",
          `broker config: node "${n.identity}" lists group "${name}" twice`,
          { hint: "list each group once", context: { identity: n.identity, group: name } },
        );
      }
      g.add(name);
    }
  });
  f.hubs.forEach((h, i) => add(h, `hubs[${i}]`));
  f.operators.forEach((o, i) => add(o, `operators[${i}]`));
  f.denied.forEach((d, i) => add(d, `denied[${i}]`));
}

/** A double-quoted nats-server config string; refuses characters that could break out of it. */
export function quote(value: string): string {
  if ([...value].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f)) {
    throw new ScoutError(
      "CONFIG_INVALID",
      `broker config: control character in ${JSON.stringify(value)}`,
      {
        hint: "remove line breaks and control characters from paths and names",
      },
    );
  }
  // nats-server's parser unescapes \\ and \" inside double quotes; "$" could start a variable
  // reference only outside quotes, so quoting every value keeps identities inert.
  return `"${value.replaceAll("\\", "\\\\").replaceAll('"', '\\"')}"`;
}

function list(items: readonly string[]): string {
  return `[${items.map(quote).join(", ")}]`;
}

/** A user that no certificate maps to: identities (SAN names) never contain "_". */
const NO_ONE = "_scout_no_one_";

function userEntry(name: string, p: Permissions): string[] {
  const lines = [
    `    {`,
    `      user: ${quote(name)}`,
    `      permissions: {`,
    `        publish: { allow: ${list(p.publish)} }`,
    `        subscribe: { allow: ${list(p.subscribe)} }`,
  ];
  if (p.allowResponses) lines.push(`        allow_responses: true`);
  lines.push(`      }`, `    }`);
  return lines;
}

/**
 * Renders the nats-server 2.9 configuration. Users are named by identity: nats-server's
 * `verify_and_map` matches the client certificate's SAN DNS name (our certificates carry the
 * identity as CN and as SAN dNSName). Denied identities get no user, so their TLS mapping fails.
 */
export function renderBrokerConfig(input: BrokerConfigInput): string {
  const o = parseBrokerConfig(input);
  const host = o.listen.host.includes(":") ? `[${o.listen.host}]` : o.listen.host;
  const out: string[] = [
    "# nats-server configuration generated by `scout broker config`; do not edit by hand.",
    `listen: ${quote(`${host}:${o.listen.port}`)}`,
    "",
    "tls {",
    `  cert_file: ${quote(o.tls.certFile)}`,
    `  key_file: ${quote(o.tls.keyFile)}`,
    `  ca_file: ${quote(o.tls.caFile)}`,
    "  verify_and_map: true",
    "  timeout: 2",
    "}",
    "",
    "jetstream {",
    `  store_dir: ${quote(o.jetstream.storeDir)}`,
  ];
  if (o.jetstream.maxMemory !== undefined) out.push(`  max_memory_store: ${o.jetstream.maxMemory}`);
  if (o.jetstream.maxFile !== undefined) out.push(`  max_file_store: ${o.jetstream.maxFile}`);
  out.push("}", "");
  if (o.monitorPort !== undefined && o.monitorPort !== null) {
    out.push(`http: ${quote(`127.0.0.1:${o.monitorPort}`)}`, "");
  }
  const users: string[][] = [
    ...o.hubs.map((h) => userEntry(h, hubPermissions())),
    ...o.operators.map((op) => userEntry(op, operatorPermissions())),
    ...o.nodes.map((n) => userEntry(n.identity, nodePermissions(n.identity, n.groups))),
  ];
  // nats-server 2.9 with an empty user list lets every certificate from the CA in. A user no
  // certificate can map to (identities never contain "_") keeps the list from ever being empty.
  users.push([
    `    {`,
    `      user: ${quote(NO_ONE)}`,
    `      permissions: { publish: { deny: [">"] }, subscribe: { deny: [">"] } }`,
    `    }`,
  ]);
  if (o.denied.length > 0) out.push(`# denied (no user, refused): ${o.denied.join(", ")}`);
  out.push("authorization {", "  users = [");
  for (const u of users) out.push(...u);
  out.push("  ]", "}", "");
  return out.join("\n");
}
