import { deepEqual, equal, ok } from "node:assert/strict";
import { formatError, type ScoutError } from "../errors.ts";
import { type CheckSpec, loadCheckFile, type LoadResult } from "./mod.ts";

const FILE = "checks/web.yaml";

function errorsOf<T>(result: LoadResult<T>): ScoutError[] {
  ok(!result.ok, `expected errors, got ${JSON.stringify(result)}`);
  return result.errors;
}

function rendered<T>(result: LoadResult<T>): string[] {
  return errorsOf(result).map(formatError);
}

function checksOf(result: LoadResult<CheckSpec[]>): CheckSpec[] {
  ok(result.ok, result.ok ? "" : result.errors.map(formatError).join("\n"));
  return result.value;
}

function load(text: string): LoadResult<CheckSpec[]> {
  return loadCheckFile(text, FILE);
}

function only<T>(items: readonly T[]): T {
  equal(items.length, 1, `expected one item, got ${items.length}`);
  return items[0] as T;
}

Deno.test("check file loader reports an unknown key with its line and a did-you-mean hint", () => {
  const text = [
    "# Web checks",
    "checks:",
    "  - name: home",
    "    plugin: check_http",
    "    arguments: -H www.example.com",
    "",
    "  # the API answers slowly",
    "  - name: api",
    "    plugin: check_http",
    "    arguments: -H api.example.com",
    "    timeout: 30s",
    "    intervall: 1m",
  ].join("\n");
  const err = only(errorsOf(load(text)));
  equal(err.code, "CONFIG_UNKNOWN_KEY");
  equal(
    formatError(err),
    `${FILE}:12:5: unknown key "intervall"\n  hint: did you mean "interval"?`,
  );
});

Deno.test("check file loader lists the allowed keys when no key is close", () => {
  const text = "checks:\n  - name: web\n    builtin: heartbeat\n    colour: blue\n";
  const err = only(errorsOf(load(text)));
  equal(err.location?.line, 4);
  equal(err.location?.col, 5);
  ok(err.hint?.startsWith('allowed keys: "name", "plugin", "arguments", "builtin"'), err.hint);
});

Deno.test("check file loader points Puppet's parameter names at Scout's fields", () => {
  const text = [
    "checks:",
    "  - name: web",
    "    builtin: heartbeat",
    "    check_interval: 1m",
    "    remediate_command: /bin/fix",
  ].join("\n");
  deepEqual(rendered(load(text)), [
    `${FILE}:4:5: unknown key "check_interval"\n  hint: did you mean "interval"?`,
    `${FILE}:5:5: unknown key "remediate_command"\n  hint: use a "remediate" map: ` +
    "remediate: {command: ..., interval: ..., states: [...]}",
  ]);
});

Deno.test("check file loader refuses unknown top-level keys and unknown keys in defaults", () => {
  const text = "check:\n  - name: web\ndefaults:\n  timout: 5s\n";
  deepEqual(rendered(load(text)), [
    `${FILE}:1:1: unknown key "check"\n  hint: did you mean "checks"?`,
    `${FILE}:4:3: unknown key "timout"\n  hint: did you mean "timeout"?`,
  ]);
});

Deno.test("check file loader applies the documented defaults", () => {
  const check = only(checksOf(load("checks:\n  - name: web\n    plugin: check_http\n")));
  deepEqual(check, {
    name: "web",
    plugin: "check_http",
    arguments: [],
    intervalMs: 300_000,
    timeoutMs: 10_000,
    attempts: 1,
    retryIntervalMs: 300_000,
    annotations: {},
    environment: {},
    location: { file: FILE, line: 2, col: 5 },
    hash: check.hash,
  });
  equal(check.hash.length, 64);
  equal("builtin" in check, false);
  equal("remediate" in check, false);
});

Deno.test("check file loader defaults retry_interval to the check's own interval", () => {
  const text = "checks:\n  - name: web\n    plugin: p\n    interval: 30s\n";
  const check = only(checksOf(load(text)));
  equal(check.intervalMs, 30_000);
  equal(check.retryIntervalMs, 30_000);
});

Deno.test("check file loader applies a defaults section and lets each check override it", () => {
  const text = [
    "defaults:",
    "  interval: 1m",
    "  timeout: 5s",
    "  attempts: 3",
    "  annotations: {team: web, tier: '1'}",
    "  environment: {LANG: C}",
    "checks:",
    "  - name: first",
    "    plugin: p",
    "  - name: second",
    "    plugin: p",
    "    interval: 2m",
    "    attempts: 1",
    "    annotations: {tier: '2'}",
    "    environment: {TZ: UTC}",
  ].join("\n");
  const [first, second] = checksOf(load(text));
  ok(first && second);
  equal(first.intervalMs, 60_000);
  equal(first.timeoutMs, 5_000);
  equal(first.attempts, 3);
  equal(first.retryIntervalMs, 60_000);
  deepEqual(first.annotations, { team: "web", tier: "1" });
  deepEqual(first.environment, { LANG: "C" });
  equal(second.intervalMs, 120_000);
  equal(second.timeoutMs, 5_000);
  equal(second.attempts, 1);
  equal(second.retryIntervalMs, 120_000);
  deepEqual(second.annotations, { team: "web", tier: "2" });
  deepEqual(second.environment, { LANG: "C", TZ: "UTC" });
});

Deno.test("check file loader splits a string of arguments and keeps a list as given", () => {
  const text = [
    "checks:",
    "  - name: as_string",
    "    plugin: check_http",
    `    arguments: -H example.com -u "/health check" --expect='HTTP/1.1 200'`,
    "  - name: as_list",
    "    plugin: check_http",
    `    arguments: ["-H", "example.com", "-u", "/health check", "--expect=HTTP/1.1 200"]`,
  ].join("\n");
  const [asString, asList] = checksOf(load(text));
  const expected = ["-H", "example.com", "-u", "/health check", "--expect=HTTP/1.1 200"];
  deepEqual(asString?.arguments, expected);
  deepEqual(asList?.arguments, expected);
});

Deno.test("check file loader reports an unterminated quote in arguments at the value", () => {
  const text = "checks:\n  - name: web\n    plugin: p\n    arguments: -u 'open\n";
  deepEqual(rendered(load(text)), [
    `${FILE}:4:16: unterminated single quote in "-u 'open"\n` +
    "  hint: close the quote, or write the arguments as a YAML list of strings",
  ]);
});

Deno.test("check file loader refuses numbers in an argument list with a hint to quote them", () => {
  const text = "checks:\n  - name: web\n    plugin: p\n    arguments: [-w, 5]\n";
  deepEqual(rendered(load(text)), [
    `${FILE}:4:21: item 2 of "arguments" must be a string, got 5\n  hint: quote it: "5"`,
  ]);
});

Deno.test("check file loader reports a duplicate check name at the second one", () => {
  const text = [
    "checks:",
    "  - name: web",
    "    plugin: p",
    "  - name: db",
    "    plugin: p",
    "  - name: web",
    "    builtin: heartbeat",
  ].join("\n");
  const err = only(errorsOf(load(text)));
  equal(err.code, "CONFIG_DUPLICATE");
  equal(
    formatError(err),
    `${FILE}:6:11: duplicate check name "web"\n` +
      '  hint: the first "web" is at line 2; check names must be unique',
  );
});

Deno.test("check file loader refuses an invalid check name", () => {
  const text = "checks:\n  - name: 1web\n    plugin: p\n";
  deepEqual(rendered(load(text)), [
    `${FILE}:2:11: invalid check name "1web"\n` +
    '  hint: a name starts with a letter, followed by at least one letter, digit, "_" or "-"',
  ]);
});

Deno.test("check file loader reports a missing name at the entry", () => {
  const text = "checks:\n  - plugin: p\n";
  deepEqual(rendered(load(text)), [
    `${FILE}:2:5: missing required key "name"\n  hint: add a "name" key`,
  ]);
});

Deno.test("check file loader asks for exactly one of plugin and builtin", () => {
  const text = [
    "checks:",
    "  - name: both",
    "    plugin: p",
    "    builtin: heartbeat",
    "  - name: neither",
    "    interval: 1m",
    "  - name: builtin_args",
    "    builtin: heartbeat",
    "    arguments: -v",
  ].join("\n");
  const errors = errorsOf(load(text));
  deepEqual(errors.map(formatError), [
    `${FILE}:4:5: "plugin" and "builtin" are both set\n` +
    "  hint: a check runs either a plugin or a builtin; remove one of them",
    `${FILE}:5:5: check "neither" has neither "plugin" nor "builtin"\n` +
    '  hint: add "plugin" (with its "arguments") or "builtin: heartbeat"',
    `${FILE}:9:5: "arguments" needs a "plugin"\n  hint: builtins take no arguments; remove them`,
  ]);
  ok(errors.every((e) => e.code === "CONFIG_INVALID"));
});

Deno.test("check file loader refuses an unknown builtin and a plugin with spaces", () => {
  const text = [
    "checks:",
    "  - name: goss",
    "    builtin: heartbeet",
    "  - name: spaced",
    "    plugin: check_load -w 5",
  ].join("\n");
  deepEqual(rendered(load(text)), [
    `${FILE}:3:14: unknown builtin "heartbeet"\n  hint: did you mean "heartbeat"?`,
    `${FILE}:5:13: plugin "check_load -w 5" contains spaces\n` +
    '  hint: put the plugin\'s arguments in "arguments"',
  ]);
});

Deno.test("check file loader refuses bad durations with CONFIG_DURATION at the value", () => {
  const text = [
    "checks:",
    "  - name: web",
    "    plugin: p",
    "    interval: 5",
    "    timeout: 5 minutes",
    "    retry_interval: 100ms",
  ].join("\n");
  const errors = errorsOf(load(text));
  deepEqual(errors.map(formatError), [
    `${FILE}:4:15: duration 5 has no unit\n  hint: add a unit, e.g. "5s" or "5m"`,
    `${FILE}:5:14: invalid duration "5 minutes"\n` +
    '  hint: use a number with a unit, e.g. "30s" or "5m" (units: ms, s, m, h, d, w)',
    `${FILE}:6:21: "retry_interval" must be at least 500ms, got "100ms"\n` +
    '  hint: use "500ms" or more',
  ]);
  ok(errors.every((e) => e.code === "CONFIG_DURATION"));
});

Deno.test("check file loader refuses an interval below 500ms", () => {
  const text = "checks:\n  - name: web\n    plugin: p\n    interval: 499ms\n";
  deepEqual(rendered(load(text)), [
    `${FILE}:4:15: "interval" must be at least 500ms, got "499ms"\n  hint: use "500ms" or more`,
  ]);
});

Deno.test("check file loader keeps attempts between 1 and 100 and whole", () => {
  const text = [
    "checks:",
    "  - name: zero",
    "    plugin: p",
    "    attempts: 0",
    "  - name: many",
    "    plugin: p",
    "    attempts: 101",
    "  - name: half",
    "    plugin: p",
    "    attempts: 1.5",
    "  - name: text",
    "    plugin: p",
    "    attempts: '3'",
  ].join("\n");
  deepEqual(rendered(load(text)), [
    `${FILE}:4:15: "attempts" must be at least 1, got 0\n  hint: use a value of at least 1`,
    `${FILE}:7:15: "attempts" must be at most 100, got 101\n  hint: use a value of at most 100`,
    `${FILE}:10:15: "attempts" must be an integer, got 1.5\n  hint: use an integer`,
    `${FILE}:13:15: "attempts" must be a number, got the string "3"\n` +
    "  hint: write the number without quotes",
  ]);
});

Deno.test("check file loader refuses non-string annotations with a hint to quote them", () => {
  const text = [
    "checks:",
    "  - name: web",
    "    builtin: heartbeat",
    "    annotations:",
    "      port: 8080",
    "      public: true",
    "      team: web",
  ].join("\n");
  deepEqual(rendered(load(text)), [
    `${FILE}:5:13: "annotations.port" must be a string, got 8080\n` +
    '  hint: quote the value: port: "8080"',
    `${FILE}:6:15: "annotations.public" must be a string, got true\n` +
    '  hint: quote the value: public: "true"',
  ]);
});

Deno.test("check file loader refuses reserved and malformed environment variable names", () => {
  const text = [
    "checks:",
    "  - name: web",
    "    plugin: p",
    "    environment:",
    "      PATH: /opt/bin",
    "      MACHINE_NAME: x",
    "      2FAST: x",
    "      OK_NAME: fine",
  ].join("\n");
  const hint = "  hint: Scout sets PATH, MACHINE_NAME and MACHINE_WATCHER_NAME itself; remove it";
  deepEqual(rendered(load(text)), [
    `${FILE}:5:7: "PATH" may not be set in "environment"\n${hint}`,
    `${FILE}:6:7: "MACHINE_NAME" may not be set in "environment"\n${hint}`,
    `${FILE}:7:7: invalid environment variable name "2FAST"\n` +
    '  hint: a variable name has letters, digits and "_", and does not start with a digit',
  ]);
});

Deno.test("check file loader reads remediation with its defaults", () => {
  const text = [
    "checks:",
    "  - name: web",
    "    plugin: p",
    "    remediate:",
    "      command: /usr/local/bin/restart 'web server'",
    "  - name: db",
    "    plugin: p",
    "    remediate:",
    "      command: [/bin/fix, --all]",
    "      interval: 1h",
    "      states: [WARNING, CRITICAL]",
  ].join("\n");
  const [web, db] = checksOf(load(text));
  deepEqual(web?.remediate, {
    command: ["/usr/local/bin/restart", "web server"],
    intervalMs: 900_000,
    states: ["CRITICAL"],
  });
  deepEqual(db?.remediate, {
    command: ["/bin/fix", "--all"],
    intervalMs: 3_600_000,
    states: ["WARNING", "CRITICAL"],
  });
});

Deno.test("check file loader refuses remediation states other than check results", () => {
  const text = [
    "checks:",
    "  - name: web",
    "    plugin: p",
    "    remediate:",
    "      command: /bin/fix",
    "      states: [CRITICAL, critcal, MAINTENANCE]",
  ].join("\n");
  const errors = errorsOf(load(text));
  const states = '"UNKNOWN", "OK", "WARNING", "CRITICAL"';
  deepEqual(errors.map(formatError), [
    `${FILE}:6:26: unknown state "critcal" in "remediate.states"\n` +
    `  hint: did you mean "CRITICAL"? states: ${states}`,
    `${FILE}:6:35: unknown state "MAINTENANCE" in "remediate.states"\n  hint: states: ${states}`,
  ]);
  ok(errors.every((e) => e.code === "CONFIG_STATE"));
});

Deno.test("check file loader needs a remediation command", () => {
  const text = [
    "checks:",
    "  - name: web",
    "    plugin: p",
    "    remediate:",
    "      interval: 5m",
    "  - name: db",
    "    plugin: p",
    "    remediate:",
    "      command: []",
  ].join("\n");
  deepEqual(rendered(load(text)), [
    `${FILE}:5:7: missing required key "command"\n  hint: add a "command" key`,
    `${FILE}:9:16: "remediate.command" must not be empty\n  hint: give the command to run`,
  ]);
});

Deno.test("check file loader accepts an empty file and an empty checks list", () => {
  deepEqual(checksOf(load("")), []);
  deepEqual(checksOf(load("# nothing yet\n")), []);
  deepEqual(checksOf(load("checks: []\n")), []);
  deepEqual(checksOf(load("checks:\n")), []);
});

Deno.test("check file loader reports YAML syntax errors with the parser's position", () => {
  const text = "checks:\n  - name: web\n    plugin: [p\n";
  const err = only(errorsOf(load(text)));
  equal(err.code, "CONFIG_YAML");
  equal(err.location?.file, FILE);
  equal(err.location?.line, 4);
  equal(err.location?.col, 1);
  ok(err.message.startsWith("YAML syntax error: "), err.message);
});

Deno.test("check file loader reports a repeated YAML key as a syntax error", () => {
  const text = "checks:\n  - name: web\n    plugin: p\n    plugin: q\n";
  const err = only(errorsOf(load(text)));
  equal(err.code, "CONFIG_YAML");
  equal(
    formatError(err),
    `${FILE}:4:5: YAML syntax error: map keys must be unique\n` +
      "  hint: remove or rename one of the repeated keys",
  );
});

Deno.test("check file loader explains a file that is a bare list of checks", () => {
  deepEqual(rendered(load("- name: web\n  plugin: p\n")), [
    `${FILE}:1:1: a check file must be a map with a "checks" list\n` +
    '  hint: start the file with "checks:" and list the checks below it',
  ]);
});

Deno.test("check file loader reports every error of a file, sorted, without cascades", () => {
  const text = [
    "checks:",
    "  - name: web",
    "    plugin: p",
    "    intervall: 1m",
    "    timeout: 0s",
    "  - just a string",
    "  - name: db",
    "    builtin: heartbeat",
    "    annotations: [a, b]",
  ].join("\n");
  deepEqual(rendered(load(text)), [
    `${FILE}:4:5: unknown key "intervall"\n  hint: did you mean "interval"?`,
    `${FILE}:5:14: "timeout" must be at least 1ms, got "0s"\n  hint: use "1ms" or more`,
    `${FILE}:6:5: item 2 of "checks" must be a map, got the string "just a string"\n` +
    '  hint: write "key: value" pairs indented below it',
    `${FILE}:9:18: "annotations" must be a map of strings, got a list\n` +
    '  hint: write "key: value" pairs indented below it',
  ]);
});

Deno.test("check file loader gives the same hash to an unchanged check that moved", () => {
  const a = checksOf(load("checks:\n  - name: web\n    plugin: p\n    interval: 1m\n"));
  const b = checksOf(
    load("# moved down\n\nchecks:\n  - interval: 60s\n    plugin: p\n    name: web\n"),
  );
  const c = checksOf(load("checks:\n  - name: web\n    plugin: p\n    interval: 2m\n"));
  const d = checksOf(
    load("defaults:\n  interval: 2m\nchecks:\n  - name: web\n    plugin: p\n"),
  );
  equal(a[0]?.hash, b[0]?.hash);
  ok(a[0]?.hash !== c[0]?.hash);
  equal(c[0]?.hash, d[0]?.hash);
  ok(a[0]?.location.line !== b[0]?.location.line);
});

Deno.test("check file loader reads the example fixture", async () => {
  const url = new URL("../../tests/fixtures/config/web.yaml", import.meta.url);
  const checks = checksOf(loadCheckFile(await Deno.readTextFile(url), "web.yaml"));
  deepEqual(checks.map((c) => c.name), ["http", "disk_root", "heartbeat"]);
  const [http, disk, heartbeat] = checks;
  deepEqual(http?.arguments, [
    "-H",
    "www.example.com",
    "-u",
    "/health check",
    "--expect=HTTP/1.1 200",
  ]);
  equal(http?.attempts, 3);
  deepEqual(http?.annotations, { team: "web", service: "frontend" });
  equal(disk?.intervalMs, 300_000);
  equal(disk?.retryIntervalMs, 30_000);
  equal(disk?.timeoutMs, 5_000);
  deepEqual(disk?.remediate?.states, ["WARNING", "CRITICAL"]);
  equal(heartbeat?.builtin, "heartbeat");
  equal(heartbeat?.intervalMs, 60_000);
  deepEqual(heartbeat?.location, { file: "web.yaml", line: 27, col: 5 });
});

Deno.test("check file loader requires a gossfile for builtin goss and refuses one without it", () => {
  const a = loadCheckFile("checks:\n  - name: sys\n    builtin: goss\n", "g.yaml");
  ok(!a.ok);
  if (!a.ok) {
    equal(formatError(a.errors[0]).split("\n")[0], 'g.yaml:3:5: builtin "goss" needs a "gossfile"');
  }
  const b = loadCheckFile(
    "checks:\n  - name: sys\n    plugin: check_x\n    gossfile: x.yaml\n",
    "g.yaml",
  );
  ok(!b.ok);
  const c = loadCheckFile(
    "checks:\n  - name: sys\n    builtin: goss\n    gossfile: goss/x.yaml\n    vars: {a: 1}\n",
    "g.yaml",
  );
  ok(c.ok);
  if (c.ok) deepEqual([c.value[0]!.gossfile, c.value[0]!.vars], ["goss/x.yaml", { a: 1 }]);
});

Deno.test("check file loader refuses an annotation key that would set an object's prototype", () => {
  const r = loadCheckFile(
    'checks:\n  - name: sys\n    builtin: heartbeat\n    annotations:\n      "__proto__": x\n',
    "p.yaml",
  );
  ok(!r.ok);
  if (!r.ok) ok(formatError(r.errors[0]).includes('"__proto__"'), formatError(r.errors[0]));
});
