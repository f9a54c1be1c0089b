/**
 * The event gateway's rules, pure: YAML or JSON text -> validated rules (zod) with errors located
 * at `file:line:col`, and matching of a verified Scout event against a rule's filter.
 *
 * A rules file is a list of rules, or a map with a `rules:` list:
 *
 * ```yaml
 * - name: pagerduty            # [A-Za-z0-9_-], unique: names the consumer and dead-letter subject
 *   match:                     # every given field must match; no match: every event
 *     type: io.choria.machine.watcher.nagios.v1.state   # glob or list of globs
 *     status: [CRITICAL, WARNING]                        # data.status is one of them
 *     check: "disk*"                                     # glob on data.machine
 *     node: "web*.example"                               # glob on the identity
 *     annotation: { team: ops }                          # data.annotations has these values
 *   url: https://events.example/hook                     # http or https
 *   mode: binary                                         # binary or structured (default)
 *   headers: { Authorization: "Bearer x" }
 *   timeout: 10s                                         # per POST; default 10s
 * ```
 * @module
 */
import { isMap, isSeq, LineCounter, type Node, parseDocument } from "yaml";
import { z } from "zod";
import { parseDuration } from "../config/mod.ts";
import { ScoutError, type SourceLocation } from "../errors.ts";
import type { ScoutEvent } from "../events.ts";

/** How an event is put on the wire (CloudEvents HTTP binding). */
export type DeliveryMode = "binary" | "structured";

/** Which events a rule forwards; every given field must match. */
export interface RuleMatch {
  /** Globs on the CloudEvent type; any may match. */
  type?: string[];
  /** Statuses (data.status); an event without a status never matches. */
  status?: string[];
  /** Glob on the check (data.machine). */
  check?: string;
  /** Glob on the node identity (the CloudEvent subject). */
  node?: string;
  /** Annotations (data.annotations) that must be present with exactly these values. */
  annotation?: Record<string, string>;
}

/** One validated gateway rule. */
export interface GatewayRule {
  /** Unique name: the durable consumer `scout-gateway-<name>` and `scout.gateway.deadletter.<name>`. */
  name: string;
  /** The filter. */
  match: RuleMatch;
  /** Where matching events are POSTed. */
  url: string;
  /** CloudEvents HTTP content mode. */
  mode: DeliveryMode;
  /** Extra request headers. */
  headers: Record<string, string>;
  /** Limit of one POST, in ms. */
  timeoutMs: number;
}

/** Default limit of one POST. */
export const DEFAULT_TIMEOUT_MS = 10_000;

const NAME = /^[A-Za-z0-9_-]{1,64}$/;
const STATUSES = ["OK", "WARNING", "CRITICAL", "UNKNOWN"] as const;
const RESERVED_HEADER = /^(ce-.*|content-type|content-length|host)$/i;

const globList = z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]);

const matchSchema = z.strictObject({
  type: globList.optional(),
  status: z.union([z.enum(STATUSES), z.array(z.enum(STATUSES)).min(1)]).optional(),
  check: z.string().min(1).optional(),
  node: z.string().min(1).optional(),
  annotation: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).optional(),
});

const ruleSchema = z.strictObject({
  name: z.string().regex(NAME, "must be 1-64 letters, digits, '_' or '-'"),
  match: matchSchema.optional(),
  url: z.string().refine((u) => {
    try {
      const p = new URL(u).protocol;
      return p === "http:" || p === "https:";
    } catch {
      return false;
    }
  }, "must be an http:// or https:// URL"),
  mode: z.enum(["binary", "structured"]).optional(),
  headers: z.record(z.string(), z.union([z.string(), z.number()])).superRefine((h, ctx) => {
    for (const k of Object.keys(h)) {
      if (RESERVED_HEADER.test(k)) {
        ctx.addIssue({ code: "custom", path: [k], message: "is set by the gateway" });
      }
    }
  }).optional(),
  timeout: z.union([z.string(), z.number()]).optional(),
});

type RawRule = z.infer<typeof ruleSchema>;

function locationOf(
  doc: ReturnType<typeof parseDocument>,
  lines: LineCounter,
  file: string,
  path: readonly PropertyKey[],
): SourceLocation {
  // Walk down as far as the path exists; point at the deepest node found.
  for (let n = path.length; n >= 0; n--) {
    const keys = path.slice(0, n).map((k) => (typeof k === "symbol" ? String(k) : k));
    const node = (n === 0 ? doc.contents : doc.getIn(keys, true)) as Node | null | undefined;
    const offset = node?.range?.[0];
    if (offset !== undefined) {
      const { line, col } = lines.linePos(offset);
      return { file, line, col };
    }
  }
  return { file, line: 1, col: 1 };
}

function pathText(path: readonly PropertyKey[]): string {
  let out = "";
  for (const k of path) {
    out += typeof k === "number" ? `[${k}]` : out === "" ? String(k) : `.${String(k)}`;
  }
  return out === "" ? "(root)" : out;
}

function invalid(message: string, location: SourceLocation, others: string[]): ScoutError {
  return new ScoutError("CONFIG_INVALID", message, {
    hint: "each rule needs a name and an http(s) url; match may have type, status, check, node " +
      "and annotation; mode is binary or structured",
    context: { errors: others },
    location,
  });
}

/**
 * Parses a gateway rules file (YAML or JSON text). Throws ScoutError (CONFIG_YAML for syntax,
 * CONFIG_INVALID for content) located at the first problem; `context.errors`
 * lists every problem as `file:line:col: message`.
 */
export function parseGatewayRules(text: string, file: string): GatewayRule[] {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: true });
  if (doc.errors.length > 0) {
    const err = doc.errors[0]!;
    const pos = err.linePos?.[0] ?? lines.linePos(err.pos[0]);
    throw new ScoutError("CONFIG_YAML", `YAML syntax error: ${err.message.split("\n")[0]}`, {
      hint: "fix the YAML syntax near this position",
      location: { file, line: pos.line, col: pos.col },
    });
  }
  const value: unknown = doc.toJS({ maxAliasCount: 100 });
  let list: unknown = value;
  let prefix: (string | number)[] = [];
  if (isMap(doc.contents)) {
    prefix = ["rules"];
    list = (value as Record<string, unknown>)["rules"];
    const extra = Object.keys(value as object).filter((k) => k !== "rules");
    if (extra.length > 0) {
      throw invalid(
        `unknown key "${extra[0]}": a rules file is a list of rules or a map with "rules"`,
        locationOf(doc, lines, file, [extra[0]!]),
        [],
      );
    }
  } else if (doc.contents !== null && !isSeq(doc.contents)) {
    throw invalid("a rules file is a list of rules (or a map with a rules list)", {
      file,
      line: 1,
      col: 1,
    }, []);
  }
  const parsed = z.array(ruleSchema).safeParse(list ?? []);
  const problems: { loc: SourceLocation; msg: string }[] = [];
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const path = [...prefix, ...issue.path];
      problems.push({
        loc: locationOf(doc, lines, file, path),
        msg: `${pathText(path)}: ${issue.message}`,
      });
    }
  }
  const rules: GatewayRule[] = [];
  if (parsed.success) {
    const seen = new Map<string, number>();
    parsed.data.forEach((raw, i) => {
      const at = (...p: (string | number)[]) => locationOf(doc, lines, file, [...prefix, i, ...p]);
      const first = seen.get(raw.name);
      if (first !== undefined) {
        const firstLine = locationOf(doc, lines, file, [...prefix, first, "name"]).line;
        problems.push({
          loc: at("name"),
          msg: `duplicate rule name "${raw.name}" (the first is at line ${firstLine})`,
        });
      }
      if (first === undefined) seen.set(raw.name, i);
      try {
        rules.push(toRule(raw));
      } catch (e) {
        const msg = `${pathText([...prefix, i, "timeout"])}: ${(e as Error).message}`;
        problems.push({ loc: at("timeout"), msg });
      }
    });
  }
  if (problems.length > 0) {
    const all = problems.map((p) => `${p.loc.file}:${p.loc.line}:${p.loc.col}: ${p.msg}`);
    const first = problems[0]!;
    const more = problems.length > 1 ? ` (and ${problems.length - 1} more)` : "";
    throw invalid(`${first.msg}${more}`, first.loc, all);
  }
  return rules;
}

function toRule(raw: RawRule): GatewayRule {
  const m = raw.match ?? {};
  const match: RuleMatch = {};
  if (m.type !== undefined) match.type = typeof m.type === "string" ? [m.type] : m.type;
  if (m.status !== undefined) match.status = typeof m.status === "string" ? [m.status] : m.status;
  if (m.check !== undefined) match.check = m.check;
  if (m.node !== undefined) match.node = m.node;
  if (m.annotation !== undefined) {
    match.annotation = Object.fromEntries(
      Object.entries(m.annotation).map(([k, v]) => [k, String(v)]),
    );
  }
  const timeoutMs = raw.timeout === undefined ? DEFAULT_TIMEOUT_MS : parseDuration(raw.timeout);
  if (timeoutMs <= 0) throw new Error("timeout must be more than 0");
  return {
    name: raw.name,
    match,
    url: raw.url,
    mode: raw.mode ?? "structured",
    headers: Object.fromEntries(Object.entries(raw.headers ?? {}).map(([k, v]) => [k, String(v)])),
    timeoutMs,
  };
}

const globCache = new Map<string, RegExp>();

/** A glob (`*` any run of characters, `?` one character, else literal) as an anchored RegExp. */
export function globToRegExp(glob: string): RegExp {
  let re = globCache.get(glob);
  if (re === undefined) {
    const body = [...glob].map((c) =>
      c === "*" ? ".*" : c === "?" ? "." : c.replace(/[.+^${}()|[\]\\]/g, "\\$&")
    ).join("");
    re = new RegExp(`^${body}$`, "s");
    globCache.set(glob, re);
  }
  return re;
}

/** Whether a glob matches the whole text. */
export function globMatch(glob: string, text: string): boolean {
  return globToRegExp(glob).test(text);
}

/** Whether a verified event passes a rule's filter. */
export function matchesRule(match: RuleMatch, ev: ScoutEvent): boolean {
  const d = ev.data;
  if (match.type !== undefined && !match.type.some((g) => globMatch(g, ev.type))) return false;
  if (match.node !== undefined && !globMatch(match.node, ev.subject)) return false;
  if (match.check !== undefined) {
    const machine = d["machine"];
    if (typeof machine !== "string" || !globMatch(match.check, machine)) return false;
  }
  if (match.status !== undefined) {
    const status = d["status"];
    if (typeof status !== "string" || !match.status.includes(status)) return false;
  }
  if (match.annotation !== undefined) {
    const ann = d["annotations"];
    if (typeof ann !== "object" || ann === null) return false;
    for (const [k, v] of Object.entries(match.annotation)) {
      if ((ann as Record<string, unknown>)[k] !== v) return false;
    }
  }
  return true;
}
