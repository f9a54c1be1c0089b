import { deepEqual, equal, match, ok } from "node:assert/strict";
import { HTTP } from "cloudevents";
import { ScoutError } from "../errors.ts";
import { nagiosStateEvent, type ScoutEvent, transitionEvent } from "../events.ts";
import {
  DEFAULT_TIMEOUT_MS,
  globMatch,
  matchesRule,
  parseGatewayRules,
  type RuleMatch,
} from "./_gateway_rules.ts";
import { encodeBinary, encodeHeaderValue, encodeStructured, isPermanent } from "./gateway.ts";

const RULES = `# gateway rules
- name: pager
  match:
    type: io.choria.machine.watcher.nagios.v1.state
    status: [CRITICAL, WARNING]
    check: "disk*"
    node: "web*.example"
    annotation: { team: ops, tier: 1 }
  url: https://events.example/hook
  mode: binary
  headers: { Authorization: Bearer x }
  timeout: 5s
- name: archive
  url: http://127.0.0.1:9000/
`;

function parseError(text: string): ScoutError {
  try {
    parseGatewayRules(text, "gw.yaml");
  } catch (e) {
    ok(e instanceof ScoutError);
    return e;
  }
  throw new Error("expected an error");
}

Deno.test("rules: a full rule and a minimal one with defaults", () => {
  const rules = parseGatewayRules(RULES, "gw.yaml");
  deepEqual(rules, [{
    name: "pager",
    match: {
      type: ["io.choria.machine.watcher.nagios.v1.state"],
      status: ["CRITICAL", "WARNING"],
      check: "disk*",
      node: "web*.example",
      annotation: { team: "ops", tier: "1" },
    },
    url: "https://events.example/hook",
    mode: "binary",
    headers: { Authorization: "Bearer x" },
    timeoutMs: 5000,
  }, {
    name: "archive",
    match: {},
    url: "http://127.0.0.1:9000/",
    mode: "structured",
    headers: {},
    timeoutMs: DEFAULT_TIMEOUT_MS,
  }]);
});

Deno.test("rules: JSON and a map with rules: are accepted; an empty file has no rules", () => {
  const json = JSON.stringify({
    rules: [{ name: "a", url: "http://x/", match: { type: ["io.*", "x"], status: "OK" } }],
  });
  const [r] = parseGatewayRules(json, "gw.json");
  deepEqual(r?.match, { type: ["io.*", "x"], status: ["OK"] });
  deepEqual(parseGatewayRules("", "gw.yaml"), []);
});

Deno.test("rules: errors name file:line:col and the path", () => {
  const bad = parseError(`- name: a
  url: ftp://x/
`);
  equal(bad.code, "CONFIG_INVALID");
  deepEqual(bad.location, { file: "gw.yaml", line: 2, col: 8 });
  match(bad.message, /\[0\]\.url: must be an http:\/\/ or https:\/\/ URL/);

  const status = parseError(`- name: a
  url: http://x/
  match:
    status: [CRITICAL, BAD]
`);
  equal(status.location?.line, 4);
  match(status.message, /\[0\]\.match\.status/);

  const unknown = parseError(`- name: a
  url: http://x/
  mach: {}
`);
  equal(unknown.location?.line, 1);
  match(unknown.message, /mach/);

  const dup = parseError(`- name: a
  url: http://x/
- name: a
  url: http://y/
`);
  deepEqual(dup.location, { file: "gw.yaml", line: 3, col: 9 });
  match(dup.message, /duplicate rule name "a" \(the first is at line 1\)/);

  const name = parseError(`- name: "a.b"
  url: http://x/
`);
  match(name.message, /name: must be/);

  const timeout = parseError(`- name: a
  url: http://x/
  timeout: 10
`);
  equal(timeout.location?.line, 3);
  match(timeout.message, /timeout/);

  const header = parseError(`- name: a
  url: http://x/
  headers: { ce-id: x }
`);
  match(header.message, /is set by the gateway/);

  const two = parseError(`- name: a
  url: nope
- url: http://x/
`);
  match(two.message, /and 1 more/);
  equal((two.context.errors as string[]).length, 2);
  match((two.context.errors as string[])[1]!, /^gw\.yaml:3:3: \[1\]\.name/);

  const yaml = parseError(`- name: a\n  url: [http://x/\n`);
  equal(yaml.code, "CONFIG_YAML");
  equal(yaml.location?.file, "gw.yaml");

  match(parseError("just text").message, /list of rules/);
});

Deno.test("globs: * and ? anchored, everything else literal", () => {
  ok(globMatch("web*", "web1.example"));
  ok(globMatch("*.example", "db1.example"));
  ok(globMatch("db?", "db1"));
  ok(!globMatch("db?", "db10"));
  ok(!globMatch("web", "web1"));
  ok(!globMatch("a.b", "axb"));
  ok(globMatch("io.choria.*.state", "io.choria.machine.watcher.nagios.v1.state"));
});

const ref = (identity: string, machine: string) => ({
  identity,
  machine,
  version: "1.0.0",
  instanceId: "i-1",
});

function nagios(
  identity: string,
  machine: string,
  status: "OK" | "WARNING" | "CRITICAL" | "UNKNOWN",
  annotations: Record<string, string> = {},
): ScoutEvent {
  return nagiosStateEvent(ref(identity, machine), {
    watcher: "check",
    plugin: "/bin/check",
    status,
    output: "it is so",
    checkTimeMs: 1_700_000_000_000,
    runtimeMs: 5,
    perfdata: [],
    history: [],
    annotations,
  }, { eventId: "e-1", timeMs: 1_700_000_000_000, extensions: { scoutstate: "CRITICAL" } });
}

Deno.test("matching: type, status, check, node and annotations all have to agree", () => {
  const ev = nagios("web1.example", "disk_root", "CRITICAL", { team: "ops", tier: "1" });
  const m = (match: RuleMatch) => matchesRule(match, ev);
  ok(m({}));
  ok(m({ type: ["io.choria.machine.watcher.nagios.v1.state"] }));
  ok(m({ type: ["io.choria.machine.v1.transition", "*.nagios.*"] }));
  ok(!m({ type: ["io.choria.machine.v1.transition"] }));
  ok(m({ status: ["WARNING", "CRITICAL"] }));
  ok(!m({ status: ["OK"] }));
  ok(m({ check: "disk*" }));
  ok(!m({ check: "load" }));
  ok(m({ node: "web*" }));
  ok(!m({ node: "db*" }));
  ok(m({ annotation: { team: "ops" } }));
  ok(!m({ annotation: { team: "db" } }));
  ok(!m({ annotation: { owner: "ops" } }));
  ok(
    m({
      status: ["CRITICAL"],
      check: "disk_root",
      node: "web1.example",
      annotation: { tier: "1" },
    }),
  );
  ok(!m({ status: ["CRITICAL"], check: "disk_root", node: "web2.example" }));
  const tr = transitionEvent(ref("web1.example", "disk_root"), {
    transition: "CRITICAL",
    from: "OK",
    to: "CRITICAL",
  }, { eventId: "e-2", timeMs: 1_700_000_000_000 });
  ok(!matchesRule({ status: ["CRITICAL"] }, tr), "a transition has no status");
  ok(matchesRule({ check: "disk*" }, tr));
});

Deno.test("encoding: binary and structured modes parse back as the same CloudEvent", () => {
  const ev = nagios("web1.example", "disk", "WARNING", { team: "ops" });
  const bin = encodeBinary(ev);
  equal(bin.headers["content-type"], "application/json");
  equal(bin.headers["ce-id"], "e-1");
  equal(bin.headers["ce-specversion"], "1.0");
  equal(bin.headers["ce-scoutstate"], "CRITICAL");
  equal(bin.headers["ce-data"], undefined);
  const fromBin = HTTP.toEvent({ headers: bin.headers, body: bin.body });
  const b = Array.isArray(fromBin) ? fromBin[0]! : fromBin;
  equal(b.id, ev.id);
  equal(b.type, ev.type);
  equal(b.subject, ev.subject);
  equal(b.source, ev.source);
  deepEqual(b.data, ev.data);
  const st = encodeStructured(ev);
  match(st.headers["content-type"]!, /^application\/cloudevents\+json/);
  const fromSt = HTTP.toEvent({ headers: st.headers, body: st.body });
  const s = Array.isArray(fromSt) ? fromSt[0]! : fromSt;
  equal(s.id, ev.id);
  deepEqual(s.data, ev.data);
  equal(s["scoutstate"], "CRITICAL");
});

Deno.test("encoding: header values are percent-encoded outside printable ASCII", () => {
  equal(encodeHeaderValue("plain-value_1"), "plain-value_1");
  equal(encodeHeaderValue('a b"c%d'), "a%20b%22c%25d");
  equal(encodeHeaderValue("é"), "%C3%A9");
});

Deno.test("failures: only 4xx other than 408 and 429 are permanent", () => {
  ok(isPermanent(400));
  ok(isPermanent(404));
  ok(!isPermanent(408));
  ok(!isPermanent(429));
  ok(!isPermanent(500));
  ok(!isPermanent(503));
  ok(!isPermanent(302));
});
