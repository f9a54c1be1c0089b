import { deepEqual, equal, match, ok, throws } from "node:assert/strict";
import { ScoutError } from "../errors.ts";
import { authorize, type LocalPolicy, type OperatorClaims, parsePolicy } from "./mod.ts";

const claims = (over: Partial<OperatorClaims> = {}): OperatorClaims => ({
  purpose: "scout-operator",
  iss: "scout",
  sub: "alice",
  exp: 2_000_000_000,
  cnf: { jwk: { kty: "OKP", crv: "Ed25519", x: "A".repeat(43) } },
  scout_actions: [],
  scout_nodes: "*",
  scout_checks: "*",
  ...over,
});

const strict: LocalPolicy = parsePolicy(
  `require_allow_rule: true
rules:
  - effect: allow
    callers: [alice]
    actions: [trigger]
    checks: "web-*"
  - effect: deny
    issuers: "https://sso.*"
    actions: "*"
`,
  "p.yaml",
);

const table: [string, Parameters<typeof authorize>[0], boolean, RegExp?][] = [
  ["listing needs no grant", { claims: claims(), action: "checks", node: "n1", checks: [] }, true],
  ["machine_states needs no grant", {
    claims: claims(),
    action: "machine_states",
    node: "n1",
    checks: [],
  }, true],
  [
    "listing still limited to the token's nodes",
    {
      claims: claims({ scout_nodes: "db-*" }),
      action: "checks",
      node: "n1",
      checks: [],
    },
    false,
    /does not include n1/,
  ],
  [
    "default deny for trigger",
    { claims: claims(), action: "trigger", node: "n1", checks: ["a"] },
    false,
    /granted: none/,
  ],
  ["star grants trigger", {
    claims: claims({ scout_actions: ["*"] }),
    action: "trigger",
    node: "n1",
    checks: ["a"],
  }, true],
  [
    "unknown action",
    { claims: claims({ scout_actions: ["*"] }), action: "exec", node: "n1", checks: [] },
    false,
    /unknown action/,
  ],
  ["goss_validate of a local file needs only the grant", {
    claims: claims({ scout_actions: ["goss_validate"] }),
    action: "goss_validate",
    node: "n1",
    checks: [],
  }, true],
  [
    "goss_validate with sent rules needs sent_rules",
    {
      claims: claims({ scout_actions: ["*"] }),
      action: "goss_validate",
      node: "n1",
      checks: [],
      sentRules: true,
    },
    false,
    /sent_rules/,
  ],
  ["require_allow_rule: matching allow rule", {
    claims: claims({ scout_actions: ["*"] }),
    action: "trigger",
    node: "n1",
    checks: ["web-a"],
    policy: strict,
  }, true],
  [
    "require_allow_rule: check outside the rule",
    {
      claims: claims({ scout_actions: ["*"] }),
      action: "trigger",
      node: "n1",
      checks: ["db-a"],
      policy: strict,
    },
    false,
    /requires an allow rule/,
  ],
  [
    "require_allow_rule: action without a rule",
    {
      claims: claims({ scout_actions: ["*"] }),
      action: "resume",
      node: "n1",
      checks: ["web-a"],
      policy: strict,
    },
    false,
    /requires an allow rule for resume/,
  ],
  [
    "deny rule wins even over listing",
    {
      claims: claims({ iss: "https://sso.example.com" }),
      action: "checks",
      node: "n1",
      checks: [],
      policy: strict,
    },
    false,
    /deny rule at p\.yaml:7/,
  ],
  [
    "machine_transition without a name is all checks",
    {
      claims: claims({ scout_actions: ["*"], scout_checks: "web-*" }),
      action: "machine_transition",
      node: "n1",
      checks: [],
    },
    false,
    /names no checks/,
  ],
];

for (const [name, input, allow, reason] of table) {
  Deno.test(`authorize: ${name}`, () => {
    const d = authorize(input);
    equal(d.allow, allow, JSON.stringify(d));
    if (!d.allow && reason) match(d.reason, reason);
  });
}

Deno.test("parsePolicy reads defaults and rule locations", () => {
  const p = parsePolicy("rules:\n  - effect: deny\n    actions: '*'\n", "x.yaml");
  deepEqual(p, {
    require_allow_rule: false,
    rules: [{
      effect: "deny",
      callers: ["*"],
      issuers: ["*"],
      actions: "*",
      nodes: ["*"],
      checks: "*",
      sent_rules: false,
      where: "x.yaml:2",
    }],
  });
  deepEqual(parsePolicy("", "empty.yaml"), { require_allow_rule: false, rules: [] });
});

function located(text: string): ScoutError {
  try {
    parsePolicy(text, "pol.yaml");
  } catch (e) {
    ok(e instanceof ScoutError);
    return e;
  }
  throw new Error("parsePolicy accepted bad input");
}

Deno.test("parsePolicy points at unknown keys, bad values and YAML errors", () => {
  const a = located("rules:\n  - effect: allow\n    actions: [trigger]\n    calers: bob\n");
  equal(a.code, "CONFIG_INVALID");
  deepEqual([a.location?.line, a.location?.col], [4, 5]);
  match(a.message, /calers/);
  const b = located("rules:\n  - effect: maybe\n    actions: [trigger]\n");
  deepEqual([b.location?.line, b.message.startsWith("rules.0.effect")], [2, true]);
  const c = located("rules:\n  - effect: allow\n    actions: [shell]\n");
  equal(c.location?.line, 3);
  const d = located("rules: [\n");
  equal(d.code, "CONFIG_YAML");
  throws(() => parsePolicy("rules:\n  - {effect: deny, actions: '*', sent_rules: true}\n", "p"));
});
