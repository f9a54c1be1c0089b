/**
 * Authorization of authenticated requests: the token's grants plus an optional local policy
 * file on the node. Pure: data in, decision out.
 *
 * Decision, in order (the first that applies wins):
 * 1. unknown action: deny;
 * 2. the token's `scout_nodes` glob must match this node;
 * 3. a local `deny` rule that matches: deny (deny rules win over everything);
 * 4. `checks` and `machine_states` (read-only listing): allow;
 * 5. the token's `scout_actions` must name the action (or `*`);
 * 6. for trigger, maintenance, resume and machine_transition every named check must match the
 *    token's `scout_checks` glob; naming none means "all checks" and needs the glob `*`;
 * 7. goss_validate with sent rules or variables (`yaml_rules`/`yaml_vars`) needs a local
 *    `allow` rule that matches and says `sent_rules: true`;
 * 8. with `require_allow_rule: true` every other action needs a matching local `allow` rule;
 * 9. allow.
 *
 * Local policy file (YAML or JSON), e.g. /etc/scout/policy.yaml:
 * ```yaml
 * require_allow_rule: false     # default false: the token's grants suffice
 * rules:
 *   - effect: deny              # allow | deny
 *     callers: "contractor-*"   # glob or list of globs on the token's sub; default "*"
 *     issuers: "*"              # glob or list on the token's iss; default "*"
 *     actions: "*"              # "*" or a list of action names (required)
 *     nodes: "db-*"             # glob or list on this node's identity; default "*"
 *     checks: "*"               # glob on check names (check actions only); default "*"
 *   - effect: allow
 *     callers: ["alice", "bob"]
 *     actions: [goss_validate]
 *     sent_rules: true          # allow goss_validate with rules sent over RPC
 * ```
 * A rule matches when caller, issuer, action and node match; for the check actions a deny rule
 * also needs one named check (or "all") to match its `checks`, an allow rule needs every named
 * check to match (and "all" only matches `*`).
 * @module
 */
import { isMap, isScalar, isSeq, LineCounter, parseDocument } from "yaml";
import { z } from "zod";
import { ScoutError } from "../errors.ts";
import {
  ACTIONS,
  CHECK_ACTIONS,
  globMatch,
  isAction,
  LISTING_ACTIONS,
  MAX_GLOB,
  type RpcAction,
} from "./_actions.ts";
import type { OperatorClaims } from "./token.ts";

/** One rule of a local policy. */
export interface PolicyRule {
  /** allow or deny. */
  effect: "allow" | "deny";
  /** Globs on the caller (`sub`). */
  callers: string[];
  /** Globs on the issuer (`iss`). */
  issuers: string[];
  /** Actions, or "*" for all. */
  actions: RpcAction[] | "*";
  /** Globs on this node's identity. */
  nodes: string[];
  /** Glob on check names (check actions only). */
  checks: string;
  /** On an allow rule: goss_validate may run rules sent over RPC. */
  sent_rules: boolean;
  /** Where the rule is written, "file:line", for reasons. */
  where: string;
}

/** A parsed local policy. */
export interface LocalPolicy {
  /** When true, actions beyond the listing also need a matching allow rule. */
  require_allow_rule: boolean;
  /** The rules, in file order. */
  rules: PolicyRule[];
}

/** What authorize needs to know. */
export interface AuthorizeInput {
  /** The verified token claims. */
  claims: OperatorClaims;
  /** The requested action. */
  action: string;
  /** This node's identity. */
  node: string;
  /** Check names the request names; empty means all checks (see requestScope). */
  checks: string[];
  /** goss_validate sends rules or variables (see requestScope). */
  sentRules?: boolean;
  /** The node's local policy, if any. */
  policy?: LocalPolicy;
}

/** The decision. */
export type Decision = { allow: true } | { allow: false; reason: string };

const glob = z.string().min(1).max(MAX_GLOB).regex(/^[^\s\p{Cc}]+$/u, {
  message: "must be a glob without spaces",
});
const globs = z.union([glob, z.array(glob).min(1)]);

const ruleSchema = z.strictObject({
  effect: z.enum(["allow", "deny"]),
  callers: globs.optional(),
  issuers: globs.optional(),
  actions: z.union([z.literal("*"), z.array(z.enum(ACTIONS)).min(1)]),
  nodes: globs.optional(),
  checks: glob.optional(),
  sent_rules: z.boolean().optional(),
  description: z.string().max(1024).optional(),
}).refine((r) => !(r.sent_rules === true && r.effect === "deny"), {
  message: "sent_rules applies to allow rules only",
  path: ["sent_rules"],
});

const policySchema = z.strictObject({
  require_allow_rule: z.boolean().optional(),
  rules: z.array(ruleSchema).max(1000).optional(),
});

const list = (g: string | string[] | undefined): string[] =>
  g === undefined ? ["*"] : typeof g === "string" ? [g] : g;

/**
 * Parses a local policy file (YAML or JSON). Throws ScoutError(CONFIG_YAML or CONFIG_INVALID)
 * with the `file:line:col` of the first problem.
 */
export function parsePolicy(text: string, file: string): LocalPolicy {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines });
  if (doc.errors.length > 0) {
    const err = doc.errors[0]!;
    const pos = lines.linePos(err.pos[0]);
    throw new ScoutError("CONFIG_YAML", `YAML syntax error: ${err.message.split("\n")[0]}`, {
      hint: "fix the YAML syntax near this position",
      location: { file, line: pos.line, col: pos.col },
    });
  }
  const at = (path: readonly PropertyKey[]): { line: number; col: number } => {
    for (let n = path.length; n >= 0; n--) {
      const node = doc.getIn(path.slice(0, n) as unknown[], true) as
        | { range?: [number, number, number] }
        | undefined;
      if (node && typeof node === "object" && node.range) return lines.linePos(node.range[0]);
    }
    return { line: 1, col: 1 };
  };
  const value = doc.toJS({ maxAliasCount: 50 }) ?? {};
  const r = policySchema.safeParse(value);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const path = issue.code === "unrecognized_keys" && issue.keys[0] !== undefined
      ? [...issue.path, issue.keys[0]]
      : issue.path;
    let pos = at(path);
    if (issue.code === "unrecognized_keys") {
      const parent = doc.getIn(issue.path as unknown[], true) ?? doc.contents;
      const pair = isMap(parent)
        ? parent.items.find((p) => isScalar(p.key) && p.key.value === issue.keys[0])
        : undefined;
      const range = pair && isScalar(pair.key) ? pair.key.range : undefined;
      if (range) pos = lines.linePos(range[0]);
    }
    throw new ScoutError(
      "CONFIG_INVALID",
      `${path.map(String).join(".") || "policy"}: ${issue.message}`,
      {
        hint: "see the policy format: rules: [{effect, callers, issuers, actions, nodes, checks}]",
        location: { file, line: pos.line, col: pos.col },
      },
    );
  }
  const seq = doc.get("rules", true);
  return {
    require_allow_rule: r.data.require_allow_rule ?? false,
    rules: (r.data.rules ?? []).map((rule, i) => {
      const node = isSeq(seq) ? seq.items[i] : undefined;
      const range = isMap(node) ? node.range : undefined;
      const line = range ? lines.linePos(range[0]).line : 1;
      return {
        effect: rule.effect,
        callers: list(rule.callers),
        issuers: list(rule.issuers),
        actions: rule.actions,
        nodes: list(rule.nodes),
        checks: rule.checks ?? "*",
        sent_rules: rule.sent_rules ?? false,
        where: `${file}:${line}`,
      };
    }),
  };
}

function any(globsList: string[], text: string): boolean {
  return globsList.some((g) => globMatch(g, text));
}

function ruleHits(rule: PolicyRule, input: AuthorizeInput, action: RpcAction): boolean {
  if (!any(rule.callers, input.claims.sub) || !any(rule.issuers, input.claims.iss)) return false;
  if (rule.actions !== "*" && !rule.actions.includes(action)) return false;
  if (!any(rule.nodes, input.node)) return false;
  if (!CHECK_ACTIONS.includes(action)) return true;
  if (rule.effect === "deny") {
    return input.checks.length === 0 || input.checks.some((c) => globMatch(rule.checks, c));
  }
  return input.checks.length === 0
    ? rule.checks === "*"
    : input.checks.every((c) => globMatch(rule.checks, c));
}

/** Decides whether an authenticated caller may run `action` on this node (see the module doc). */
export function authorize(input: AuthorizeInput): Decision {
  const { claims, action, node, checks, policy } = input;
  const deny = (reason: string): Decision => ({ allow: false, reason });
  if (!isAction(action)) return deny(`unknown action ${JSON.stringify(action)}`);
  if (!globMatch(claims.scout_nodes, node)) {
    return deny(`token is for nodes "${claims.scout_nodes}", which does not include ${node}`);
  }
  const rules = policy?.rules ?? [];
  const denied = rules.find((r) => r.effect === "deny" && ruleHits(r, input, action));
  if (denied) return deny(`local policy denies ${action} (deny rule at ${denied.where})`);
  if (LISTING_ACTIONS.includes(action)) return { allow: true };
  if (!claims.scout_actions.includes("*") && !claims.scout_actions.includes(action)) {
    const granted = claims.scout_actions.length ? claims.scout_actions.join(", ") : "none";
    return deny(
      `token does not grant action ${action} (granted: ${granted}; listing is always allowed)`,
    );
  }
  if (CHECK_ACTIONS.includes(action)) {
    if (checks.length === 0 && claims.scout_checks !== "*") {
      return deny(
        `request names no checks (meaning all) but the token limits checks to "${claims.scout_checks}"`,
      );
    }
    const outside = checks.filter((c) => !globMatch(claims.scout_checks, c));
    if (outside.length > 0) {
      return deny(
        `token limits checks to "${claims.scout_checks}"; not allowed: ${outside.join(", ")}`,
      );
    }
  }
  const allowed = rules.filter((r) => r.effect === "allow" && ruleHits(r, input, action));
  if (action === "goss_validate" && input.sentRules === true) {
    if (!allowed.some((r) => r.sent_rules)) {
      return deny(
        "goss_validate with rules sent over RPC needs a local policy allow rule with sent_rules: true",
      );
    }
  }
  if (policy?.require_allow_rule === true && allowed.length === 0) {
    return deny(`local policy requires an allow rule for ${action}, and none matches`);
  }
  return { allow: true };
}
